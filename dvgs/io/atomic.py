"""Atomic writes: outputs appear at their final path only when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            # mkstemp creates 0600 files; give the output the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_tsv(df: pd.DataFrame, path: str | os.PathLike, float_format: str = "%.6g") -> None:
    """Write ``df`` as TSV (no index, NaN as empty field) atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, na_rep="", float_format=float_format)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as Parquet (no index) atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
