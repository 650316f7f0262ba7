"""Downloads against a real HTTP server on 127.0.0.1 (tests/io/http_server.py)."""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_server import ServedDir

from dvgs.io.download import (
    checksum_file,
    download,
    gunzip_file,
    parse_checksum,
    parse_checksum_file,
    verify_file,
)
from dvgs.io.releases import RELEASES, Release, ReleaseFile, get_release, release_from_config

REPO = Path(__file__).resolve().parents[2]
# a real CMap level-4 file shipped in resources/ (2 MB), served as the remote file
SERVED_FILE = REPO / "resources/lincs/raw/level4/CORE001.D1_KJ100_X1-X2_ZSPCINF_n40x12328.gctx"
FALLBACK = sorted(
    p for p in (REPO / "resources").rglob("*") if p.is_file() and p.stat().st_size > 1000
)


def _source_file() -> Path:
    if SERVED_FILE.is_file():
        return SERVED_FILE
    if FALLBACK:
        return FALLBACK[0]
    pytest.skip("no real data file in resources/")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServedDir, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    src = _source_file()
    shutil.copyfile(src, root / "data.bin")
    with ServedDir(root) as server:
        yield server, root / "data.bin"


def _digest(path: Path, algo: str) -> str:
    return f"{algo}:{hashlib.new(algo, path.read_bytes()).hexdigest()}"


FAST = {"backoff": 0.01, "timeout": 10, "progress": False}


@pytest.mark.parametrize("algo", ["md5", "sha256", "sha512"])
def test_normal_download_verified(served, tmp_path: Path, algo: str) -> None:
    server, src = served
    dest = tmp_path / "out" / "data.bin"
    out = download(server.url("data.bin"), dest, checksum=_digest(src, algo), **FAST)
    assert out == dest
    assert dest.read_bytes() == src.read_bytes()
    assert not dest.with_name("data.bin.part").exists()
    assert dest.with_name("data.bin.verified").exists()
    assert len(server.gets("data.bin")) == 1


def test_download_with_size(served, tmp_path: Path) -> None:
    server, src = served
    dest = tmp_path / "data.bin"
    download(server.url("data.bin"), dest, expected_size=src.stat().st_size, **FAST)
    assert dest.read_bytes() == src.read_bytes()


def test_interrupted_download_resumes_with_range(served, tmp_path: Path) -> None:
    server, src = served
    size = src.stat().st_size
    server.faults.drop_after = size // 3
    dest = tmp_path / "data.bin"
    download(server.url("data.bin"), dest, checksum=_digest(src, "sha256"), **FAST)
    assert dest.read_bytes() == src.read_bytes()
    gets = server.gets("data.bin")
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    assert gets[1].headers["Range"] == f"bytes={size // 3}-"


def test_resume_from_leftover_part(served, tmp_path: Path) -> None:
    """A .part from an earlier run is re-hashed and continued, not fetched again."""
    server, src = served
    data = src.read_bytes()
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(data[:1000])
    download(server.url("data.bin"), dest, checksum=_digest(src, "md5"), **FAST)
    assert dest.read_bytes() == data
    (get,) = server.gets("data.bin")
    assert get.headers["Range"] == "bytes=1000-"


def test_server_ignoring_range_restarts_from_zero(served, tmp_path: Path) -> None:
    server, src = served
    data = src.read_bytes()
    server.faults.ignore_range = True
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(data[:1000])
    download(server.url("data.bin"), dest, checksum=_digest(src, "sha256"), **FAST)
    assert dest.read_bytes() == data
    (get,) = server.gets("data.bin")
    assert get.headers["Range"] == "bytes=1000-"


def test_5xx_is_retried(served, tmp_path: Path) -> None:
    server, src = served
    server.faults.status = 503
    server.faults.status_requests = 2
    dest = tmp_path / "data.bin"
    download(server.url("data.bin"), dest, checksum=_digest(src, "sha256"), **FAST)
    assert dest.read_bytes() == src.read_bytes()
    assert len(server.gets("data.bin")) == 3


def test_retries_exhausted(served, tmp_path: Path) -> None:
    server, _ = served
    server.faults.status = 503
    server.faults.status_requests = 100
    dest = tmp_path / "data.bin"
    with pytest.raises(OSError, match="after 2 retries"):
        download(server.url("data.bin"), dest, retries=2, **FAST)
    assert len(server.gets("data.bin")) == 3
    assert not dest.exists()


def test_404_not_retried(served, tmp_path: Path) -> None:
    server, _ = served
    with pytest.raises(OSError, match="HTTP 404"):
        download(server.url("missing.bin"), tmp_path / "x", **FAST)
    assert len(server.gets("missing.bin")) == 1


def test_corrupted_download_rejected(served, tmp_path: Path) -> None:
    server, src = served
    server.faults.corrupt = True
    dest = tmp_path / "data.bin"
    expected = _digest(src, "sha256")
    corrupted = bytearray(src.read_bytes())
    corrupted[len(corrupted) // 2] ^= 0xFF
    actual = f"sha256:{hashlib.sha256(corrupted).hexdigest()}"
    url = server.url("data.bin")
    with pytest.raises(ValueError) as info:
        download(url, dest, checksum=expected, **FAST)
    msg = str(info.value)
    assert expected in msg and actual in msg and url in msg and "data.bin" in msg
    assert not dest.exists()
    assert not dest.with_name("data.bin.part").exists()
    assert not dest.with_name("data.bin.verified").exists()


def test_size_mismatch(served, tmp_path: Path) -> None:
    server, src = served
    size = src.stat().st_size
    dest = tmp_path / "data.bin"
    with pytest.raises(ValueError, match=f"expected {size + 1} bytes, got {size} bytes"):
        download(server.url("data.bin"), dest, expected_size=size + 1, **FAST)
    assert not dest.exists()
    assert not dest.with_name("data.bin.part").exists()


def test_already_downloaded_is_not_fetched_again(served, tmp_path: Path, monkeypatch) -> None:
    server, src = served
    dest = tmp_path / "data.bin"
    checksum = _digest(src, "sha256")
    download(server.url("data.bin"), dest, checksum=checksum, **FAST)
    assert len(server.gets()) == 1

    # With a valid marker the file is not even re-hashed.
    import dvgs.io.download as mod

    def no_hash(*args, **kwargs):
        raise AssertionError("re-hashed a verified file")

    monkeypatch.setattr(mod, "checksum_file", no_hash)
    monkeypatch.setattr(mod, "_sync_hash", no_hash)
    download(server.url("data.bin"), dest, checksum=checksum, **FAST)
    assert len(server.requests) == 1
    monkeypatch.undo()

    # Without the marker the file is hashed once (no request) and the marker comes back.
    dest.with_name("data.bin.verified").unlink()
    download(server.url("data.bin"), dest, checksum=checksum, **FAST)
    assert len(server.requests) == 1
    assert dest.with_name("data.bin.verified").exists()


def test_existing_file_that_fails_verification_is_replaced(served, tmp_path: Path) -> None:
    server, src = served
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"stale")
    download(server.url("data.bin"), dest, checksum=_digest(src, "md5"), **FAST)
    assert dest.read_bytes() == src.read_bytes()
    assert len(server.gets("data.bin")) == 1


def test_unpinned_records_sha256_and_warns(served, tmp_path: Path, caplog) -> None:
    server, src = served
    dest = tmp_path / "data.bin"
    with caplog.at_level(logging.WARNING, logger="dvgs.io.download"):
        download(server.url("data.bin"), dest, **FAST)
    assert "UNPINNED" in caplog.text
    marker = dest.with_name("data.bin.verified").read_text()
    assert _digest(src, "sha256") in marker
    download(server.url("data.bin"), dest, **FAST)
    assert len(server.gets()) == 1


@pytest.mark.parametrize("style", ["file_url", "plain_path"])
def test_file_staging(tmp_path: Path, style: str) -> None:
    src = tmp_path / "src" / "data.bin"
    src.parent.mkdir()
    shutil.copyfile(_source_file(), src)
    url = src.as_uri() if style == "file_url" else str(src)
    dest = tmp_path / "staged" / "data.bin"
    download(url, dest, checksum=_digest(src, "sha512"), progress=False)
    assert dest.read_bytes() == src.read_bytes()
    bad = "md5:" + "0" * 32
    dest2 = tmp_path / "staged" / "bad.bin"
    with pytest.raises(ValueError, match=bad):
        download(url, dest2, checksum=bad, progress=False)
    assert not dest2.exists() and not dest2.with_name("bad.bin.part").exists()


def test_file_staging_in_place(tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    shutil.copyfile(_source_file(), src)
    before = src.read_bytes()
    download(str(src), src, checksum=_digest(src, "sha256"), progress=False)
    assert src.read_bytes() == before


def test_missing_local_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        download(str(tmp_path / "nope.bin"), tmp_path / "out.bin", progress=False)


def test_checksum_helpers(tmp_path: Path) -> None:
    src = _source_file()
    for algo in ("md5", "sha256", "sha512"):
        assert checksum_file(src, algo) == _digest(src, algo)
        assert verify_file(src, _digest(src, algo))
    assert not verify_file(src, "md5:" + "0" * 32)
    with pytest.raises(ValueError, match="sha1"):
        parse_checksum("sha1:" + "0" * 40)
    with pytest.raises(ValueError, match="hex digits"):
        parse_checksum("md5:abc")
    assert parse_checksum("MD5:" + "A" * 32) == ("md5", "a" * 32)


def test_parse_checksum_file_geo_style(tmp_path: Path) -> None:
    src = _source_file()
    sha = hashlib.sha512(src.read_bytes()).hexdigest()
    text = (
        f"{sha}  GSE92742_Broad_LINCS_gene_info.txt.gz\n"
        f"{'ab' * 64} *./GSE92742_Broad_LINCS_sig_info.txt.gz\n\n"
    )
    sums = parse_checksum_file(text)
    assert sums == {
        "GSE92742_Broad_LINCS_gene_info.txt.gz": f"sha512:{sha}",
        "GSE92742_Broad_LINCS_sig_info.txt.gz": f"sha512:{'ab' * 64}",
    }
    with pytest.raises(ValueError, match="line 1"):
        parse_checksum_file("xyz file\n")


def test_gunzip_file(tmp_path: Path) -> None:
    src = _source_file()
    gz = tmp_path / "data.bin.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    out = gunzip_file(gz, tmp_path / "data.bin")
    assert out.read_bytes() == src.read_bytes()


# --------------------------------------------------------------------------- releases

KEYS = ("level4", "level5", "siginfo", "instinfo", "geneinfo")


def test_builtin_releases() -> None:
    beta = get_release("lincs2020")
    assert beta.format == "lincs2020"
    assert set(KEYS) | {"compoundinfo", "cellinfo"} <= set(beta.files)
    assert beta.files["level5"].checksum == "md5:9a82806e2aba6ec2a866cba77bd57fda"
    assert beta.files["siginfo"].checksum == "md5:ab609fc04fab21180b07833119d1c7b6"
    assert beta.files["siginfo"].size is None
    assert beta.files["instinfo"].checksum is None
    assert beta.files["level4"].url.startswith("https://s3.amazonaws.com/macchiato.clue.io/")
    geo = get_release("gse92742")
    assert geo.format == "geo" and geo.checksums_url.endswith("GSE92742_SHA512SUMS.txt.gz")
    assert all(rf.filename.endswith(".gz") for rf in geo.files.values())
    assert get_release("example").files["level4"].filename == "level4_beta_example.gctx"
    assert set(RELEASES) == {"lincs2020", "gse92742", "example"}
    with pytest.raises(KeyError, match="unknown release 'nope'"):
        get_release("nope")


def test_overrides_and_custom_release() -> None:
    mirror = get_release(
        "lincs2020", {"files": {"siginfo": {"url": "http://mirror.example/siginfo_beta.txt"}}}
    )
    assert mirror.files["siginfo"].url == "http://mirror.example/siginfo_beta.txt"
    assert mirror.files["siginfo"].checksum == "md5:ab609fc04fab21180b07833119d1c7b6"
    unpinned = get_release("lincs2020", {"files": {"siginfo": {"checksum": None}}})
    assert unpinned.files["siginfo"].checksum is None
    custom = get_release(
        "mine",
        {"format": "geo", "files": {k: {"url": f"https://x.org/{k}.txt.gz"} for k in KEYS}},
    )
    assert custom.name == "mine" and custom.files["level4"].filename == "level4.txt.gz"
    with pytest.raises(KeyError, match="missing file entries"):
        release_from_config({"name": "bad", "format": "geo", "files": {"level4": "a.gctx"}})
    with pytest.raises(ValueError, match="format 'x'"):
        release_from_config({"name": "bad", "format": "x", "files": {k: "a" for k in KEYS}})
    with pytest.raises(ValueError, match="hex digits"):
        ReleaseFile("level4", "a", "a", checksum="md5:12")
    with pytest.raises(KeyError, match="unknown fields"):
        get_release("lincs2020", {"files": {"level4": {"sha": "x"}}})


def test_release_fetch_with_geo_style_checksum_listing(served, tmp_path: Path) -> None:
    server, src = served
    root = src.parent
    names = {k: f"GSE1_{k}.txt.gz" for k in KEYS}
    data = src.read_bytes()
    for i, name in enumerate(names.values()):
        (root / name).write_bytes(gzip.compress(data[i * 1000 : (i + 1) * 1000 + 5000]))
    listing = "".join(
        f"{hashlib.sha512((root / n).read_bytes()).hexdigest()}  {n}\n" for n in names.values()
    )
    (root / "GSE1_SHA512SUMS.txt.gz").write_bytes(gzip.compress(listing.encode()))
    release = release_from_config(
        {
            "name": "gse1",
            "format": "geo",
            "checksums_url": server.url("GSE1_SHA512SUMS.txt.gz"),
            "files": {k: {"url": server.url(n)} for k, n in names.items()},
        }
    )
    out = release.fetch(tmp_path / "dl", progress=False, backoff=0.01)
    for key, name in names.items():
        assert out[key].read_bytes() == (root / name).read_bytes()
        assert "sha512:" in out[key].with_name(name + ".verified").read_text()

    # a file that no longer matches the listing is rejected
    (root / names["geneinfo"]).write_bytes(gzip.compress(b"tampered"))
    with pytest.raises(ValueError, match="sha512:"):
        release.fetch(tmp_path / "dl2", keys=["geneinfo"], progress=False, backoff=0.01)


def test_stage_example_release(tmp_path: Path, monkeypatch) -> None:
    example = get_release("example")
    if not all((REPO / rf.url).is_file() for rf in example.files.values()):
        pytest.skip("example release not built yet")
    monkeypatch.chdir(REPO)
    pinned = Release(
        name="example",
        format=example.format,
        files={
            k: ReleaseFile(k, rf.url, rf.filename, checksum=checksum_file(REPO / rf.url))
            for k, rf in example.files.items()
        },
    )
    out = pinned.fetch(tmp_path / "staged", progress=False)
    for key, rf in example.files.items():
        assert out[key].read_bytes() == (REPO / rf.url).read_bytes()
    # the catalogue entry itself stages too (pinned from SHA256SUMS when present)
    out2 = example.fetch(tmp_path / "staged2", progress=False)
    assert set(out2) == set(KEYS)
