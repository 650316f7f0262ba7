"""Shared pieces of the benchmark loaders: containers, checksums, download fallback, splits.

The benchmark protocol follows DVRL (Yoon et al. 2020) and DVGS: the *source* set (the data to be
valued) is drawn from the original training file, the *target* set (the small clean set the
valuation method may look at) and the *test* set are drawn, disjointly, from the original test
file. Tabular features are min-max scaled with a scaler fitted on the source set only; image
pixels are scaled to [0, 1].
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dvgs.io.atomic import atomic_path

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class DatasetSource:
    """One file of a benchmark data set: where it came from and how to check it.

    ``md5`` / ``sha256`` are checksums of the file as downloaded from ``url``; either may be
    ``None`` when the upstream publishes none. ``bundled_sha256`` is the checksum of the copy
    shipped in ``resources/benchmarks`` when that copy is not byte-identical to the upstream file
    (e.g. a re-zipped archive); ``note`` says why.
    """

    dataset: str
    filename: str
    url: str
    md5: str | None = None
    sha256: str | None = None
    bundled_sha256: str | None = None
    note: str = ""


@dataclass(frozen=True)
class RawDataset:
    """A benchmark data set as read from its files, before sampling and scaling.

    Tabular: ``x_*`` float64 (one-hot encoded, unscaled). Images: ``x_*`` uint8 (n, 3, 32, 32).
    Labels are int64 in ``0 .. n_classes - 1``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    n_classes: int


@dataclass(frozen=True)
class BenchmarkData:
    """Source / target / test sets of one seeded benchmark split (features float32, labels int64)."""

    x_source: np.ndarray
    y_source: np.ndarray
    x_target: np.ndarray
    y_target: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    source_index: np.ndarray
    target_index: np.ndarray
    test_index: np.ndarray
    n_classes: int


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (``md5`` or ``sha256``), read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, md5: str | None = None, sha256: str | None = None) -> None:
    """Raise ``ValueError`` naming the file when its md5 / sha256 differs from the expected one."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        got = file_digest(p, algorithm)
        if got != expected.lower():
            raise ValueError(f"{p}: {algorithm} is {got}, expected {expected}")


def download(source: DatasetSource, directory: str | os.PathLike, timeout: float = 60.0) -> Path:
    """Download ``source.url`` into ``directory/source.filename`` atomically and verify it."""
    final = Path(directory) / source.filename
    logger.info("downloading %s to %s", source.url, final)
    with atomic_path(final) as tmp:
        with urllib.request.urlopen(source.url, timeout=timeout) as resp, open(tmp, "wb") as out:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
        verify_file(tmp, md5=source.md5, sha256=source.sha256)
    return final


def locate(
    source: DatasetSource, directory: str | os.PathLike, allow_download: bool = False
) -> Path:
    """Return the path of ``source`` in ``directory``, verified; download it if allowed and missing.

    A present file must match either the upstream checksums or ``bundled_sha256``. Sources without
    any file checksum (BLOG: UCI publishes none) are checked by their loader, member by member.
    """
    path = Path(directory) / source.filename
    if not path.is_file():
        if not allow_download:
            raise FileNotFoundError(
                f"{path}: file not found (upstream: {source.url}; pass allow_download=True "
                "to fetch it)"
            )
        return download(source, directory)
    if source.bundled_sha256 is not None and file_digest(path) == source.bundled_sha256:
        return path
    verify_file(path, md5=source.md5, sha256=source.sha256)
    return path


def _minmax_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = x.min(axis=0)
    span = x.max(axis=0) - lo
    span = np.where(span > 0, span, 1.0)
    return lo, span


def make_benchmark_split(
    dataset: RawDataset,
    n_source: int,
    n_target: int,
    n_test: int | None,
    seed: int,
    scale: bool = True,
) -> BenchmarkData:
    """Draw a seeded source / target / test split (DVRL protocol).

    Source: ``n_source`` rows drawn without replacement from the training file. Target and test:
    ``n_target`` and ``n_test`` disjoint rows drawn from the test file (``n_test=None`` takes all
    remaining rows). Tabular features are min-max scaled with a scaler fitted on the source set only
    (constant source columns are shifted, not divided); images are divided by 255. Features are
    returned as float32.
    """
    rng = np.random.default_rng(seed)
    n_train, n_pool = len(dataset.y_train), len(dataset.y_test)
    if not 0 < n_source <= n_train:
        raise ValueError(
            f"{dataset.name}: n_source={n_source}, expected 1..{n_train} (training rows)"
        )
    rest = n_pool - n_target
    if n_test is None:
        n_test = rest
    if n_target < 1 or n_test < 0 or n_target + n_test > n_pool:
        raise ValueError(
            f"{dataset.name}: n_target={n_target} + n_test={n_test} must fit in the {n_pool} "
            "rows of the test file"
        )
    source_index = np.sort(rng.choice(n_train, size=n_source, replace=False))
    perm = rng.permutation(n_pool)
    target_index = np.sort(perm[:n_target])
    test_index = np.sort(perm[n_target : n_target + n_test])

    xs = dataset.x_train[source_index]
    xt = dataset.x_test[target_index]
    xe = dataset.x_test[test_index]
    if dataset.x_train.dtype == np.uint8:
        xs, xt, xe = (a.astype(np.float32) / np.float32(255.0) for a in (xs, xt, xe))
    elif scale:
        lo, span = _minmax_fit(xs.astype(np.float64))
        xs, xt, xe = (((a - lo) / span).astype(np.float32) for a in (xs, xt, xe))
    else:
        xs, xt, xe = (a.astype(np.float32) for a in (xs, xt, xe))
    return BenchmarkData(
        x_source=xs,
        y_source=dataset.y_train[source_index].astype(np.int64),
        x_target=xt,
        y_target=dataset.y_test[target_index].astype(np.int64),
        x_test=xe,
        y_test=dataset.y_test[test_index].astype(np.int64),
        feature_names=dataset.feature_names,
        source_index=source_index,
        target_index=target_index,
        test_index=test_index,
        n_classes=dataset.n_classes,
    )
