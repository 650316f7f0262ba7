"""ADULT / BLOG / CIFAR10 benchmark loaders (bundled copies, download fallback) and splits."""

from __future__ import annotations

import os
from pathlib import Path

from dvgs.datasets import adult, blog, cifar10
from dvgs.datasets.adult import load_adult
from dvgs.datasets.blog import load_blog
from dvgs.datasets.cifar10 import load_cifar10, read_cifar10_archive
from dvgs.datasets.common import (
    BenchmarkData,
    DatasetSource,
    RawDataset,
    download,
    make_benchmark_split,
)

DATASETS: tuple[str, ...] = ("adult", "blog", "cifar10")
# the original files of each data set, as published upstream (downloadable, with checksums)
ORIGINAL_SOURCES: dict[str, tuple[DatasetSource, ...]] = {
    "adult": adult.SOURCES,
    "blog": blog.SOURCES,
    "cifar10": (cifar10.ARCHIVE,),
}


def load_dataset(
    name: str, directory: str | os.PathLike, allow_download: bool = False
) -> RawDataset:
    """Load benchmark ``name`` from ``directory`` (e.g. ``resources/benchmarks/<name>``)."""
    d = Path(directory)
    if name == "adult":
        return load_adult(d, allow_download)
    if name == "blog":
        return load_blog(d, allow_download)
    if name == "cifar10":
        return load_cifar10(d, allow_download=allow_download)
    raise ValueError(f"dataset {name!r} unknown, expected one of {DATASETS}")


def download_source(dataset: str, filename: str, directory: str | os.PathLike) -> Path:
    """Download original file ``filename`` of ``dataset`` from its upstream URL into
    ``directory`` and verify its checksum (see :data:`ORIGINAL_SOURCES`)."""
    if dataset not in ORIGINAL_SOURCES:
        raise ValueError(f"dataset {dataset!r} unknown, expected one of {DATASETS}")
    by_name = {s.filename: s for s in ORIGINAL_SOURCES[dataset]}
    if filename not in by_name:
        raise ValueError(
            f"{dataset}: no original file named {filename!r}, expected one of {sorted(by_name)}"
        )
    return download(by_name[filename], directory)


__all__ = [
    "ORIGINAL_SOURCES",
    "download_source",
    "DATASETS",
    "BenchmarkData",
    "DatasetSource",
    "RawDataset",
    "load_adult",
    "load_blog",
    "load_cifar10",
    "load_dataset",
    "make_benchmark_split",
    "read_cifar10_archive",
]
