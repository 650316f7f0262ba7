"""Resumable, verified downloads (HTTP(S), ``file://`` URLs and plain local paths).

Every release file goes through :func:`download`, including the bundled example release, which is
"staged" from local paths with the same size / checksum verification as a remote file.

How a file travels:

* bytes stream into ``dest + ".part"``; when a ``.part`` is left over from an interrupted run the
  transfer resumes with an HTTP ``Range`` request (``206 Partial Content``). A server that answers
  ``200`` to a Range request sends the whole body, so the ``.part`` is restarted from zero;
* connection errors, timeouts, HTTP 5xx / 408 / 429 and truncated bodies are retried with
  exponential backoff (``backoff * 2**attempt`` seconds), resuming each time;
* the checksum is computed while streaming (the bytes already in a ``.part`` are hashed once
  before resuming), then size and checksum are verified and only then is ``.part`` renamed onto
  ``dest``. On a mismatch the ``.part`` is deleted and a :class:`ValueError` names the file, the URL
  and the expected and actual checksum (or size).

Verified marker: after a successful verification a small JSON sidecar ``dest + ".verified"`` records
the checksum, the size and the modification time of ``dest``. When ``dest`` exists and the marker
matches (same checksum asked for, same size, same mtime) :func:`download` returns at once without
re-hashing, so an 89 GB level-4 file is hashed once, not on every run. Touching or replacing the
file invalidates the marker and the next call re-hashes it. Delete the marker to force a re-check.

Unpinned files (no checksum given): the SHA-256 computed on the way is recorded in the marker and
a warning says that the file is not pinned.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import logging
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from dvgs.io.atomic import atomic_path
from dvgs.progress import progress_bar

__all__ = [
    "ALGORITHMS",
    "checksum_file",
    "download",
    "gunzip_file",
    "parse_checksum",
    "parse_checksum_file",
    "read_text",
    "verify_file",
]

logger = logging.getLogger(__name__)

ALGORITHMS: tuple[str, ...] = ("md5", "sha256", "sha512")
"""Hash algorithms accepted in ``"<algo>:<hex>"`` checksum strings."""

_HEX_LENGTHS = {32: "md5", 64: "sha256", 128: "sha512"}
_UNPINNED_ALGO = "sha256"
_USER_AGENT = "dvgs-downloader/0.1 (+python urllib)"
_MARKER_SUFFIX = ".verified"
_PART_SUFFIX = ".part"


# --------------------------------------------------------------------------- checksums


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split ``"md5:<hex>"`` / ``"sha256:<hex>"`` / ``"sha512:<hex>"`` into ``(algo, hex)``."""
    algo, sep, digest = checksum.strip().partition(":")
    algo = algo.lower()
    digest = digest.strip().lower()
    if not sep or algo not in ALGORITHMS:
        raise ValueError(
            f"checksum {checksum!r}: expected '<algo>:<hex digest>' with algo one of {ALGORITHMS}"
        )
    expected_len = hashlib.new(algo).digest_size * 2
    if len(digest) != expected_len or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(
            f"checksum {checksum!r}: expected {expected_len} hex digits for {algo}, got {digest!r}"
        )
    return algo, digest


def checksum_file(
    path: str | os.PathLike, algo: str = "sha256", chunk_size: int = 1 << 20, progress: bool = False
) -> str:
    """Hash a file incrementally; return ``"<algo>:<hex>"``."""
    if algo not in ALGORITHMS:
        raise ValueError(f"hash algorithm {algo!r}: expected one of {ALGORITHMS}")
    p = Path(path)
    h = hashlib.new(algo)
    with (
        open(p, "rb") as fh,
        progress_bar(
            total=p.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=f"hash {p.name}",
            disable=not progress,
        ) as bar,
    ):
        while chunk := fh.read(chunk_size):
            h.update(chunk)
            bar.update(len(chunk))
    return f"{algo}:{h.hexdigest()}"


def verify_file(path: str | os.PathLike, checksum: str, progress: bool = False) -> bool:
    """Return True when the file's digest equals ``checksum`` (``"<algo>:<hex>"``)."""
    algo, digest = parse_checksum(checksum)
    return checksum_file(path, algo, progress=progress) == f"{algo}:{digest}"


def parse_checksum_file(text: str) -> dict[str, str]:
    """Parse a ``sha512sum`` / ``md5sum`` style listing (e.g. GEO's ``GSE92742_SHA512SUMS.txt``).

    Lines look like ``<hex>  <name>`` or ``<hex> *<name>`` (binary mode); blank lines and ``#``
    comments are skipped. The algorithm is inferred from the digest length (32 md5, 64 sha256,
    128 sha512). Names are reduced to their base name. Returns ``{name: "<algo>:<hex>"}``.
    """
    out: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise ValueError(
                f"checksum listing line {lineno}: expected '<hex>  <name>', got {raw!r}"
            )
        digest, name = parts[0].lower(), parts[1].strip().lstrip("*")
        algo = _HEX_LENGTHS.get(len(digest))
        if algo is None or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(
                f"checksum listing line {lineno}: {digest!r} is not an md5/sha256/sha512 hex digest"
            )
        out[Path(name).name] = f"{algo}:{digest}"
    return out


def read_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """Read a text file, transparently gunzipping ``*.gz``."""
    p = Path(path)
    if p.suffix == ".gz":
        with gzip.open(p, "rt", encoding=encoding) as fh:
            return fh.read()
    return p.read_text(encoding=encoding)


# --------------------------------------------------------------------------- verified marker


def _marker_path(dest: Path) -> Path:
    return dest.with_name(dest.name + _MARKER_SUFFIX)


def _read_marker(dest: Path) -> dict[str, Any] | None:
    marker = _marker_path(dest)
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_marker(dest: Path, checksum: str, url: str, pinned: bool) -> None:
    st = dest.stat()
    payload = {
        "checksum": checksum,
        "pinned": pinned,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "url": url,
    }
    with atomic_path(_marker_path(dest)) as tmp:
        tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def _marker_matches(dest: Path, checksum: str | None, expected_size: int | None) -> bool:
    data = _read_marker(dest)
    if data is None:
        return False
    st = dest.stat()
    if data.get("size") != st.st_size or data.get("mtime_ns") != st.st_mtime_ns:
        return False
    if expected_size is not None and st.st_size != expected_size:
        return False
    if checksum is None:
        return isinstance(data.get("checksum"), str)
    algo, digest = parse_checksum(checksum)
    return data.get("checksum") == f"{algo}:{digest}"


# --------------------------------------------------------------------------- download


class _RetryableError(Exception):
    """A transient failure: the attempt may be repeated (resuming from the ``.part``)."""


@dataclass
class _HashState:
    """Running hash over the bytes already in the ``.part`` file."""

    algo: str
    hasher: Any
    nbytes: int = 0

    @classmethod
    def fresh(cls, algo: str) -> _HashState:
        return cls(algo, hashlib.new(algo), 0)


def _is_local(url: str) -> bool:
    scheme = urllib.parse.urlparse(url).scheme.lower()
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def _local_source(url: str) -> Path:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme.lower() == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    return Path(url)


def _sync_hash(part: Path, state: _HashState, chunk_size: int, progress: bool) -> _HashState:
    """Make ``state`` cover exactly the bytes of ``part`` (re-hashing it when needed)."""
    size = part.stat().st_size if part.exists() else 0
    if size == state.nbytes:
        return state
    state = _HashState.fresh(state.algo)
    if size:
        logger.info("hashing %d bytes already in %s before resuming", size, part)
        with (
            open(part, "rb") as fh,
            progress_bar(
                total=size,
                unit="B",
                unit_scale=True,
                desc=f"rehash {part.name}",
                disable=not progress,
            ) as bar,
        ):
            while chunk := fh.read(chunk_size):
                state.hasher.update(chunk)
                state.nbytes += len(chunk)
                bar.update(len(chunk))
    return state


def _copy_stream(
    src: BinaryIO,
    part: Path,
    mode: str,
    state: _HashState,
    total: int | None,
    chunk_size: int,
    progress: bool,
    desc: str,
) -> None:
    with (
        open(part, mode) as fh,
        progress_bar(
            total=total,
            initial=state.nbytes,
            unit="B",
            unit_scale=True,
            desc=desc,
            disable=not progress,
        ) as bar,
    ):
        while True:
            chunk = src.read(chunk_size)
            if not chunk:
                break
            fh.write(chunk)
            state.hasher.update(chunk)
            state.nbytes += len(chunk)
            bar.update(len(chunk))


def _fetch_local(
    src: Path, part: Path, state: _HashState, chunk_size: int, progress: bool
) -> tuple[_HashState, int]:
    total = src.stat().st_size
    if state.nbytes > total:
        part.unlink(missing_ok=True)
        state = _HashState.fresh(state.algo)
    with open(src, "rb") as fh:
        fh.seek(state.nbytes)
        mode = "ab" if state.nbytes else "wb"
        _copy_stream(fh, part, mode, state, total, chunk_size, progress, f"copy {src.name}")
    return state, total


def _parse_content_range(value: str | None) -> tuple[int, int | None] | None:
    """``"bytes 100-199/200"`` -> ``(100, 200)``; total is None for ``*``."""
    if not value or not value.startswith("bytes "):
        return None
    spec, _, total = value[6:].partition("/")
    start, _, _ = spec.partition("-")
    try:
        return int(start), (None if total.strip() == "*" else int(total))
    except ValueError:
        return None


def _fetch_http(
    url: str,
    part: Path,
    state: _HashState,
    chunk_size: int,
    timeout: float,
    progress: bool,
) -> tuple[_HashState, int | None]:
    """One HTTP attempt; appends to ``part``. Returns the updated state and the total size."""
    offset = state.nbytes
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            # The .part is already complete or longer than the file: restart from zero.
            logger.warning("%s: server rejected Range bytes=%d- (416); restarting", url, offset)
            part.unlink(missing_ok=True)
            raise _RetryableError(f"HTTP 416 for Range bytes={offset}-") from err
        if err.code >= 500 or err.code in (408, 429):
            raise _RetryableError(f"HTTP {err.code} {err.reason}") from err
        raise OSError(f"download of {url} failed: HTTP {err.code} {err.reason}") from err
    with resp:
        status = getattr(resp, "status", 200)
        length_header = resp.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        mode = "ab"
        total: int | None
        if offset and status == 206:
            content_range = _parse_content_range(resp.headers.get("Content-Range"))
            if content_range is None or content_range[0] != offset:
                raise _RetryableError(
                    f"unexpected Content-Range {resp.headers.get('Content-Range')!r} "
                    f"for Range bytes={offset}-"
                )
            total = content_range[1]
            if total is None and length is not None:
                total = offset + length
            logger.info("%s: resuming at byte %d", url, offset)
        else:
            if offset:
                logger.warning(
                    "%s: server ignored Range bytes=%d- (HTTP %d); restarting from zero",
                    url,
                    offset,
                    status,
                )
            state = _HashState.fresh(state.algo)
            mode = "wb"
            total = length
        _copy_stream(
            resp, part, mode, state, total, chunk_size, progress, part.name[: -len(".part")]
        )
    if total is not None and state.nbytes < total:
        raise _RetryableError(f"truncated body: got {state.nbytes} of {total} bytes")
    return state, total


def _mismatch(dest: Path, url: str, what: str, expected: object, actual: object) -> ValueError:
    return ValueError(
        f"download of {dest.name} from {url} failed verification: {what} mismatch, "
        f"expected {expected}, got {actual}; the partial file was deleted"
    )


def download(
    url: str,
    dest: str | os.PathLike,
    expected_size: int | None = None,
    checksum: str | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    chunk_size: int = 1 << 20,
    timeout: float = 60,
    progress: bool = True,
) -> Path:
    """Fetch ``url`` to ``dest`` with resume, retries and size / checksum verification.

    Args:
        url: ``http(s)://`` URL, ``file://`` URL or plain local path (relative paths resolve
            against the working directory).
        dest: final path; written only once verified.
        expected_size: size in bytes, checked when given.
        checksum: ``"md5:<hex>"``, ``"sha256:<hex>"`` or ``"sha512:<hex>"``. Without it the file
            is "unpinned": its SHA-256 is recorded in the ``.verified`` marker and a warning logged.
        retries: how many times a transient failure is retried (so up to ``retries + 1`` attempts).
        backoff: first wait in seconds; doubles on each retry.
        chunk_size: bytes per read.
        timeout: socket timeout in seconds for each HTTP request.
        progress: show a tqdm progress bar (stderr, with ETA).

    Returns:
        ``dest`` as a :class:`Path`.

    Raises:
        ValueError: size or checksum mismatch (the ``.part`` is deleted), or a malformed checksum.
        OSError: a non-transient HTTP error (e.g. 404) or retries exhausted; a missing local source
            raises :class:`FileNotFoundError`.
    """
    dest = Path(dest)
    pinned = checksum is not None
    if checksum is not None:
        algo, digest = parse_checksum(checksum)
        checksum = f"{algo}:{digest}"
    else:
        algo = _UNPINNED_ALGO

    if dest.exists():
        if _marker_matches(dest, checksum, expected_size):
            logger.debug("%s already downloaded and verified (marker)", dest)
            return dest
        if _verify_existing(dest, url, checksum, expected_size, progress):
            return dest
        logger.warning("%s exists but does not verify; downloading it again from %s", dest, url)

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + _PART_SUFFIX)
    local = _is_local(url)
    if local:
        src = _local_source(url)
        if not src.is_file():
            raise FileNotFoundError(f"source {src} for {dest} (url {url!r}) does not exist")

    state = _HashState.fresh(algo)
    total: int | None = None
    attempt = 0
    while True:
        state = _sync_hash(part, state, chunk_size, progress)
        if expected_size is not None and state.nbytes > expected_size:
            logger.warning(
                "%s is larger than the expected %d bytes; restarting", part, expected_size
            )
            part.unlink()
            state = _HashState.fresh(algo)
        try:
            if local:
                state, total = _fetch_local(src, part, state, chunk_size, progress)
            else:
                state, total = _fetch_http(url, part, state, chunk_size, timeout, progress)
            break
        except (
            _RetryableError,
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
        ) as err:
            if isinstance(err, urllib.error.HTTPError) or local:
                raise
            attempt += 1
            if attempt > retries:
                raise OSError(
                    f"download of {dest.name} from {url} failed after {retries} retries: {err}"
                ) from err
            wait = backoff * 2 ** (attempt - 1)
            logger.warning(
                "download of %s from %s: %s; retry %d/%d in %.1fs",
                dest.name,
                url,
                err,
                attempt,
                retries,
                wait,
            )
            time.sleep(wait)

    size = part.stat().st_size
    for what, expected in (("size", expected_size), ("size reported by the server", total)):
        if expected is not None and size != expected:
            part.unlink(missing_ok=True)
            raise _mismatch(dest, url, what, f"{expected} bytes", f"{size} bytes")
    actual = f"{algo}:{state.hasher.hexdigest()}"
    if checksum is not None and actual != checksum:
        part.unlink(missing_ok=True)
        raise _mismatch(dest, url, "checksum", checksum, actual)

    _marker_path(dest).unlink(missing_ok=True)
    os.replace(part, dest)
    _write_marker(dest, actual, url, pinned)
    if pinned:
        logger.info("downloaded %s (%d bytes, %s verified)", dest, size, algo)
    else:
        logger.warning(
            "downloaded %s (%d bytes) UNPINNED: no checksum given; recorded %s in %s",
            dest,
            size,
            actual,
            _marker_path(dest),
        )
    return dest


def _verify_existing(
    dest: Path, url: str, checksum: str | None, expected_size: int | None, progress: bool
) -> bool:
    """Hash an existing ``dest`` (no valid marker); write the marker when it verifies."""
    size = dest.stat().st_size
    if expected_size is not None and size != expected_size:
        logger.warning("%s has %d bytes, expected %d", dest, size, expected_size)
        return False
    if checksum is None:
        actual = checksum_file(dest, _UNPINNED_ALGO, progress=progress)
        logger.warning("%s exists and is UNPINNED (no checksum given); recorded %s", dest, actual)
        _write_marker(dest, actual, url, pinned=False)
        return True
    algo, _ = parse_checksum(checksum)
    actual = checksum_file(dest, algo, progress=progress)
    if actual != checksum:
        logger.warning("%s: checksum %s, expected %s", dest, actual, checksum)
        return False
    logger.info("%s exists and verifies (%s); recorded marker", dest, algo)
    _write_marker(dest, actual, url, pinned=True)
    return True


def gunzip_file(src: str | os.PathLike, dest: str | os.PathLike, chunk_size: int = 1 << 20) -> Path:
    """Decompress ``src`` (``.gz``) to ``dest`` atomically (GEO ships ``.gctx.gz``)."""
    with gzip.open(src, "rb") as fin, atomic_path(dest) as tmp, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout, chunk_size)
    return Path(dest)
