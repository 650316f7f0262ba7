"""ADULT / BLOG / CIFAR10 benchmark loaders (bundled copies, download fallback) and splits."""

from __future__ import annotations

import os
from pathlib import Path

from dvgs.datasets.adult import load_adult
from dvgs.datasets.blog import load_blog
from dvgs.datasets.cifar10 import load_cifar10, read_cifar10_archive
from dvgs.datasets.common import (
    BenchmarkData,
    DatasetSource,
    RawDataset,
    make_benchmark_split,
)

DATASETS: tuple[str, ...] = ("adult", "blog", "cifar10")


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


__all__ = [
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
