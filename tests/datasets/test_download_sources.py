"""Original-source downloads of the benchmark data sets: lookup, checksum check, bad names."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import dvgs.datasets as datasets
from dvgs.datasets import ORIGINAL_SOURCES, DatasetSource, download_source

ROOT = Path(__file__).resolve().parents[2] / "resources" / "benchmarks"


def test_every_original_file_has_an_upstream_url_and_a_check() -> None:
    assert set(ORIGINAL_SOURCES) == set(datasets.DATASETS)
    for sources in ORIGINAL_SOURCES.values():
        for s in sources:
            assert s.url.startswith("https://")
            # BLOG: UCI publishes no checksum; its members are verified by the loader instead
            assert s.md5 or s.sha256 or s.dataset == "blog"


def test_bad_names_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dataset 'mnist' unknown"):
        download_source("mnist", "x", tmp_path)
    with pytest.raises(ValueError, match="no original file named 'adult.csv'"):
        download_source("adult", "adult.csv", tmp_path)


def test_download_verifies_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the bundled adult.test is byte-identical to UCI's: serve it from a file:// URL
    src = ROOT / "adult" / "adult.test"
    good = next(s for s in ORIGINAL_SOURCES["adult"] if s.filename == "adult.test")
    local = DatasetSource("adult", "adult.test", src.resolve().as_uri(), md5=good.md5,
                          sha256=good.sha256)  # fmt: skip
    monkeypatch.setitem(ORIGINAL_SOURCES, "adult", (local,))
    out = download_source("adult", "adult.test", tmp_path / "dl")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == good.sha256
    bad = DatasetSource("adult", "adult.test", src.resolve().as_uri(), md5="0" * 32)
    monkeypatch.setitem(ORIGINAL_SOURCES, "adult", (bad,))
    with pytest.raises(ValueError, match="md5 is"):
        download_source("adult", "adult.test", tmp_path / "dl2")
    assert not (tmp_path / "dl2" / "adult.test").exists()
