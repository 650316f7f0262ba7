"""Benchmark loaders and splits on the bundled real data (resources/benchmarks)."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from dvgs.datasets import (
    load_adult,
    load_blog,
    load_cifar10,
    load_dataset,
    make_benchmark_split,
    read_cifar10_archive,
)
from dvgs.datasets.adult import SOURCES as ADULT_SOURCES
from dvgs.datasets.blog import SOURCE as BLOG_SOURCE
from dvgs.datasets.cifar10 import ARCHIVE as CIFAR_ARCHIVE
from dvgs.datasets.common import RawDataset, file_digest, locate, verify_file

ROOT = Path(__file__).resolve().parents[2] / "resources" / "benchmarks"


@pytest.fixture(scope="module")
def adult() -> RawDataset:
    return load_adult(ROOT / "adult")


@pytest.fixture(scope="module")
def blog() -> RawDataset:
    return load_blog(ROOT / "blog")


@pytest.fixture(scope="module")
def cifar() -> RawDataset:
    return load_cifar10(ROOT / "cifar10")


def test_adult_shapes_and_labels(adult: RawDataset) -> None:
    assert adult.x_train.shape == (32561, 108)
    assert adult.x_test.shape == (16281, 108)
    assert len(adult.feature_names) == 108
    assert adult.feature_names[:6] == (
        "age",
        "fnlwgt",
        "education_num",
        "capital_gain",
        "capital_loss",
        "hours_per_week",
    )
    # counts from the UCI files: 7,841 / 32,561 and 3,846 / 16,281 earn >50K
    assert int(adult.y_train.sum()) == 7841
    assert int(adult.y_test.sum()) == 3846
    # one-hot blocks: every row has exactly one category per categorical column (8 columns)
    assert np.all(adult.x_train[:, 6:].sum(axis=1) == 8)
    assert np.all(adult.x_test[:, 6:].sum(axis=1) == 8)
    # Holand-Netherlands only occurs in adult.data: concat-before-dummies keeps the column
    j = adult.feature_names.index("native_country=Holand-Netherlands")
    assert adult.x_train[:, j].sum() == 1 and adult.x_test[:, j].sum() == 0


def test_blog_shapes_and_labels(blog: RawDataset) -> None:
    assert blog.x_train.shape == (52397, 280)
    assert blog.x_test.shape == (7624, 280)
    assert blog.y_train.mean() == pytest.approx(0.3595, abs=1e-3)
    assert blog.y_test.mean() == pytest.approx(0.2981, abs=1e-3)


def test_cifar10_bundled(cifar: RawDataset) -> None:
    assert cifar.x_train.shape == (3000, 3, 32, 32) and cifar.x_train.dtype == np.uint8
    assert cifar.x_test.shape == (1000, 3, 32, 32)
    assert np.array_equal(np.bincount(cifar.y_train), np.full(10, 300))
    assert np.array_equal(np.bincount(cifar.y_test), np.full(10, 100))
    lossless = load_cifar10(ROOT / "cifar10", lossless=True)
    assert lossless.x_train.shape == (200, 3, 32, 32) and lossless.x_test.shape == (20, 3, 32, 32)
    assert lossless.y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]


def _fake_archive(path: Path, raw: RawDataset) -> None:
    """Write raw's images in the original python-pickle archive layout (5 train batches)."""
    flat_train = raw.x_train.reshape(len(raw.x_train), 3072)
    parts = np.array_split(np.arange(len(flat_train)), 5)
    with tarfile.open(path, "w:gz") as tf:
        batches = [
            (f"data_batch_{i + 1}", flat_train[p], raw.y_train[p]) for i, p in enumerate(parts)
        ]
        batches.append(("test_batch", raw.x_test.reshape(len(raw.x_test), 3072), raw.y_test))
        for name, data, labels in batches:
            blob = pickle.dumps({b"data": data, b"labels": labels.tolist()})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))


def test_cifar10_archive_reader_roundtrip(tmp_path: Path) -> None:
    raw = load_cifar10(ROOT / "cifar10", lossless=True)
    archive = tmp_path / "cifar-10-python.tar.gz"
    _fake_archive(archive, raw)
    with pytest.raises(ValueError, match="md5"):
        read_cifar10_archive(archive)  # not the real archive
    back = read_cifar10_archive(archive, verify=False)
    assert np.array_equal(back.x_train, raw.x_train)
    assert np.array_equal(back.y_train, raw.y_train)
    assert np.array_equal(back.x_test, raw.x_test)
    assert np.array_equal(back.y_test, raw.y_test)


def test_checksums_and_sources(tmp_path: Path) -> None:
    for src in ADULT_SOURCES:
        assert src.url.startswith("https://archive.ics.uci.edu/")
        verify_file(ROOT / "adult" / src.filename, md5=src.md5, sha256=src.sha256)
    assert file_digest(ROOT / "blog" / "BlogFeedback.zip") == BLOG_SOURCE.bundled_sha256
    assert CIFAR_ARCHIVE.md5 == "c58f30108f718f92721af3b95e74349a"
    # a corrupted copy is refused, naming the file
    bad = tmp_path / "adult.data"
    bad.write_bytes((ROOT / "adult" / "adult.data").read_bytes()[:-10])
    with pytest.raises(ValueError, match="adult.data: md5"):
        locate(ADULT_SOURCES[0], tmp_path)
    with pytest.raises(FileNotFoundError, match="adult.test"):
        locate(ADULT_SOURCES[1], tmp_path)


def test_blog_member_check(tmp_path: Path) -> None:
    import zipfile

    bad = tmp_path / "BlogFeedback.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("blogData_train.csv", "1,2,3\n")
    with pytest.raises(ValueError, match="blogData_train.csv has CRC-32"):
        load_blog(tmp_path)


def test_split_scaling_and_disjointness(adult: RawDataset) -> None:
    d = make_benchmark_split(adult, 1000, 400, 2000, seed=3)
    assert d.x_source.shape == (1000, 108) and d.x_source.dtype == np.float32
    assert d.x_target.shape == (400, 108) and d.x_test.shape == (2000, 108)
    lo, hi = d.x_source.min(axis=0), d.x_source.max(axis=0)
    assert np.all(lo == 0.0)
    varying = adult.x_train[d.source_index].std(axis=0) > 0
    assert np.all(hi[varying] == 1.0) and np.all(hi[~varying] == 0.0)
    # scaler is fitted on the source only: target/test may leave [0, 1]
    assert d.x_test.max() > 1.0 or d.x_test.min() < 0.0
    assert not set(d.target_index) & set(d.test_index)
    assert len(set(d.source_index)) == 1000
    # labels are the rows' labels; class balance like the files (~24 % positive)
    assert np.array_equal(d.y_target, adult.y_test[d.target_index])
    assert 0.15 < d.y_source.mean() < 0.35 and 0.15 < d.y_target.mean() < 0.35


def test_split_seeded(adult: RawDataset, blog: RawDataset, cifar: RawDataset) -> None:
    a = make_benchmark_split(adult, 500, 100, 100, seed=7)
    b = make_benchmark_split(adult, 500, 100, 100, seed=7)
    c = make_benchmark_split(adult, 500, 100, 100, seed=8)
    assert np.array_equal(a.x_source, b.x_source) and np.array_equal(a.target_index, b.target_index)
    assert not np.array_equal(a.source_index, c.source_index)
    s = make_benchmark_split(blog, 1000, 400, None, seed=0)
    assert s.x_source.shape == (1000, 280) and s.x_test.shape == (7624 - 400, 280)
    assert not set(s.target_index) & set(s.test_index)
    assert 0.2 < s.y_source.mean() < 0.5
    im = make_benchmark_split(cifar, 3000, 500, 500, seed=0)
    assert im.x_source.shape == (3000, 3, 32, 32)
    assert im.x_source.min() >= 0.0 and im.x_source.max() <= 1.0
    assert set(im.target_index).isdisjoint(im.test_index)


def test_split_errors(adult: RawDataset) -> None:
    with pytest.raises(ValueError, match="n_source"):
        make_benchmark_split(adult, 10**6, 10, 10, seed=0)
    with pytest.raises(ValueError, match="16281"):
        make_benchmark_split(adult, 10, 16000, 1000, seed=0)
    with pytest.raises(ValueError, match="unknown"):
        load_dataset("mnist", ROOT)
