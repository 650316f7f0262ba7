"""GCTX (HDF5) reader and writer for CMap / LINCS L1000 matrices, using h5py only.

Layout (CMap's GCTX 1.0): ``/0/DATA/0/matrix`` stored samples x genes (h5py shape
``(n_samples, n_genes)``), ids at ``/0/META/COL/id`` (samples) and ``/0/META/ROW/id`` (genes), one
1-D dataset per metadata field under ``/0/META/COL`` and ``/0/META/ROW``, root attribute
``version = "GCTX1.0"``.

Ids are always returned as ``str`` whatever the file stores (int, float, fixed-length bytes);
bytes are decoded as UTF-8 with a latin-1 fallback (CMap files hold ``b"10 \\xb5M"``). In
metadata, CMap's missing-value sentinel ``-666`` (number or string such as ``"-666.00"``) and empty
strings become NaN.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Literal

import h5py
import numpy as np
import pandas as pd

from dvgs.io.atomic import atomic_path

logger = logging.getLogger(__name__)

Axis = Literal["col", "row"]

MATRIX_PATH = "0/DATA/0/matrix"
META_PATH = {"col": "0/META/COL", "row": "0/META/ROW"}
MISSING_SENTINEL = -666.0
_MISSING_STRINGS = frozenset({"", "-666", "-666.0", "-666.00", "-666.000"})
# Rows of the matrix read per h5py call when selecting samples; bounds peak memory of one call.
_READ_BLOCK_ROWS = 256
# Chunk cache of each open file: a few rows of CMap's (256 x 1000) float32 chunks, so that a
# chunk touched by consecutive reads is fetched once.
_CHUNK_CACHE_BYTES = 64 << 20


def _decode_bytes(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _to_str(value: object) -> str:
    """One id or metadata value as str (bytes decoded, integral floats without ``.0``)."""
    if isinstance(value, bytes | np.bytes_):
        return _decode_bytes(bytes(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def decode_ids(values: np.ndarray) -> list[str]:
    """Decode an id dataset (int, float or bytes) to a list of str."""
    items = values.tolist()
    kind = values.dtype.kind
    if kind in "SO":
        try:
            return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in items]
        except UnicodeDecodeError:
            pass  # some id is not UTF-8: decode one by one with the latin-1 fallback
    elif kind in "iuU":
        return [str(v) for v in items]
    return [_to_str(v) for v in items]


def _check_axis(axis: str) -> Axis:
    if axis not in META_PATH:
        raise ValueError(f"axis must be 'col' (samples) or 'row' (genes), got {axis!r}")
    return axis  # type: ignore[return-value]


def clean_meta_column(values: Sequence[object] | np.ndarray) -> pd.Series:
    """Normalise one metadata column: decode bytes, -666 / empty -> NaN, numeric strings -> float.

    A string column becomes float only when every non-missing value parses as a number (as
    cmapPy does); otherwise it stays object dtype with str values and NaN for missing.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iuf":
        out = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
        missing = out == MISSING_SENTINEL
        if missing.any():
            out = out.astype(np.float64)
            out[missing] = np.nan
        return pd.Series(out)
    if arr.dtype.kind == "b":
        return pd.Series(arr.astype(np.int64))
    strs: list[str | float] = []
    for v in arr.tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)):
            strs.append(np.nan)
            continue
        s = _to_str(v)
        strs.append(np.nan if s.strip() in _MISSING_STRINGS else s)
    series = pd.Series(strs, dtype=object)
    present = series.dropna()
    if len(present) > 0:
        numeric = pd.to_numeric(present, errors="coerce")
        if not numeric.isna().any():
            out = pd.Series(np.nan, index=series.index, dtype=np.float64)
            out[present.index] = numeric.astype(np.float64)
            return out
    return series


def read_ids(path: str | os.PathLike, axis: Axis) -> list[str]:
    """Ids of one axis: ``"col"`` (samples) or ``"row"`` (genes), as str."""
    axis = _check_axis(axis)
    with h5py.File(path, "r") as f:
        return decode_ids(f[f"{META_PATH[axis]}/id"][()])


def read_meta(path: str | os.PathLike, axis: Axis) -> pd.DataFrame:
    """Metadata of one axis as a DataFrame indexed by id (str); -666 -> NaN."""
    axis = _check_axis(axis)
    with h5py.File(path, "r") as f:
        group = f[META_PATH[axis]]
        ids = decode_ids(group["id"][()])
        columns = {
            name: clean_meta_column(group[name][()]).to_numpy()
            for name in sorted(group.keys())
            if name != "id" and isinstance(group[name], h5py.Dataset)
        }
    df = pd.DataFrame(columns, index=pd.Index(ids, name="id"))
    return df


def _index_of(
    path: str | os.PathLike, file_ids: list[str], wanted: Sequence[str], what: str
) -> np.ndarray:
    lookup: dict[str, int] = {}
    for i, key in enumerate(file_ids):
        if key in lookup:
            raise ValueError(f"{path}: duplicate {what} id {key!r} in the file; ids must be unique")
        lookup[key] = i
    missing = [w for w in wanted if w not in lookup]
    if missing:
        raise KeyError(
            f"{path}: {len(missing)} {what} id(s) not in the file, e.g. {missing[:5]} "
            f"(file has {len(file_ids)} {what} ids)"
        )
    return np.fromiter((lookup[w] for w in wanted), dtype=np.int64, count=len(wanted))


def _gene_runs(
    dset: h5py.Dataset, genes: np.ndarray
) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Plan the column reads for the requested gene indices ``genes`` (any order, repeats ok).

    Returns runs ``(c0, c1, dest, src)``: read columns ``c0:c1`` of the matrix, then output
    columns ``dest`` are ``src`` of that slab (``src = genes[dest] - c0``). A run covers adjacent
    storage chunk columns that hold at least one requested gene, trimmed to the first and last
    requested gene, so chunk columns without a requested gene are never read (and, for an
    unchunked matrix, only the bytes between the first and last requested gene).
    """
    runs: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    if len(genes) == 0:
        return runs
    n_genes = dset.shape[1]
    width = dset.chunks[1] if dset.chunks is not None else n_genes
    chunk_cols = np.unique(genes // width)
    breaks = np.flatnonzero(np.diff(chunk_cols) > 1) + 1
    for part in np.split(chunk_cols, breaks):
        lo_col, hi_col = int(part[0]) * width, min((int(part[-1]) + 1) * width, n_genes)
        dest = np.flatnonzero((genes >= lo_col) & (genes < hi_col))
        c0, c1 = int(genes[dest].min()), int(genes[dest].max()) + 1
        runs.append((c0, c1, dest, genes[dest] - c0))
    return runs


def _scratch_for(runs: list[tuple[int, int, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Flat float32 buffer big enough for one read slab of ``_READ_BLOCK_ROWS`` (x2) rows."""
    width = max((c1 - c0 for c0, c1, _, _ in runs), default=0)
    return np.empty(2 * _READ_BLOCK_ROWS * width, dtype=np.float32)


def _read_rows(
    dset: h5py.Dataset,
    rows: np.ndarray,
    runs: list[tuple[int, int, np.ndarray, np.ndarray]],
    n_cols: int,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Read sorted unique sample rows x the planned genes into float32 ``[len(rows), n_cols]``.

    Rows are read ``_READ_BLOCK_ROWS`` at a time: a dense run of rows as one hyperslab straight
    into a reused buffer (``read_direct``), a sparse one with an h5py point selection; the
    requested gene columns are then gathered in memory, in the requested order.
    """
    out = np.empty((len(rows), n_cols), dtype=np.float32)
    if len(rows) == 0 or n_cols == 0:
        return out
    if scratch is None:
        scratch = _scratch_for(runs)
    single = len(runs) == 1 and len(runs[0][2]) == n_cols  # one slab feeds every column
    for b0 in range(0, len(rows), _READ_BLOCK_ROWS):
        block = rows[b0 : b0 + _READ_BLOCK_ROWS]
        target = out[b0 : b0 + len(block)]
        lo, hi = int(block[0]), int(block[-1]) + 1
        dense = (hi - lo) <= 2 * len(block)
        for c0, c1, dest, src in runs:
            if dense:
                slab = scratch[: (hi - lo) * (c1 - c0)].reshape(hi - lo, c1 - c0)
                dset.read_direct(slab, np.s_[lo:hi, c0:c1])
                if hi - lo != len(block):
                    slab = slab[block - lo]
            else:
                slab = dset[block.tolist(), c0:c1]
            if single:
                np.take(slab, src, axis=1, out=target)
            else:
                target[:, dest] = np.take(slab, src, axis=1)
    return out


def _open(path: str | os.PathLike) -> h5py.File:
    """Open for reading with a chunk cache that holds a few rows of CMap's 1 MB chunks."""
    return h5py.File(path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES, rdcc_nslots=10007)


_ChunkCols = list[tuple[int, np.ndarray | slice, np.ndarray]]


def _direct_chunk_plan(dset: h5py.Dataset, genes: np.ndarray) -> _ChunkCols | None:
    """Plan whole-chunk reads for an uncompressed, unfiltered, chunked little-endian float32 matrix.

    Returns ``(c0, dest, src)`` per storage chunk column holding a requested gene (output
    columns ``dest`` are chunk columns ``src``), or None when the matrix is not eligible (then
    HDF5 hyperslab reads are used). CMap's large files are of this kind: reading each chunk's raw
    bytes with one call and gathering the landmark columns in memory avoids HDF5's copy through its
    chunk cache.
    """
    if dset.chunks is None or dset.dtype != np.dtype("<f4") or len(genes) == 0:
        return None
    if dset.id.get_create_plist().get_nfilters() != 0:
        return None
    width = dset.chunks[1]
    cols: _ChunkCols = []
    for j in np.unique(genes // width).tolist():
        c0 = j * width
        idx = np.flatnonzero((genes >= c0) & (genes < c0 + width))
        contiguous = bool(np.all(np.diff(idx) == 1))
        dest = slice(int(idx[0]), int(idx[-1]) + 1) if contiguous else idx
        cols.append((c0, dest, genes[idx] - c0))
    return cols


def _read_block_direct(
    dset: h5py.Dataset, start: int, stop: int, cols: _ChunkCols, n_cols: int, buf: np.ndarray
) -> np.ndarray:
    """Rows ``start:stop`` x planned genes, read chunk by chunk with ``read_direct_chunk``."""
    chunk_rows, width = dset.chunks
    out = np.empty((stop - start, n_cols), dtype=np.float32)
    chunk = buf.view("<f4").reshape(chunk_rows, width)
    for r0 in range((start // chunk_rows) * chunk_rows, stop, chunk_rows):
        a, b = max(start, r0), min(stop, r0 + chunk_rows)
        for c0, dest, src in cols:
            dset.id.read_direct_chunk((r0, c0), out=buf)
            out[a - start : b - start, dest] = chunk[a - r0 : b - r0][:, src]
    return out


def read_gctx(
    path: str | os.PathLike,
    sample_ids: Sequence[str] | None = None,
    gene_ids: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str], list[str]]:
    """Read a samples x genes float32 matrix, in the order asked.

    ``sample_ids`` / ``gene_ids`` may be in any order and may repeat; ``None`` means all, in
    file order. Samples are read sorted and de-duplicated, then put back in the requested order;
    genes are gathered from the storage chunks that hold them. Unknown ids raise ``KeyError``
    naming the file and up to 5 missing ids.
    """
    with h5py.File(path, "r") as f:
        dset = f[MATRIX_PATH]
        file_samples = decode_ids(f[f"{META_PATH['col']}/id"][()])
        file_genes = decode_ids(f[f"{META_PATH['row']}/id"][()])
        _check_shape(path, dset, file_samples, file_genes)
        s_req = list(sample_ids) if sample_ids is not None else file_samples
        g_req = list(gene_ids) if gene_ids is not None else file_genes
        s_idx = _index_of(path, file_samples, s_req, "sample (column)")
        g_idx = _index_of(path, file_genes, g_req, "gene (row)")
        s_unique, s_inverse = np.unique(s_idx, return_inverse=True)
        runs = _gene_runs(dset, g_idx)
        data = _read_rows(dset, s_unique, runs, len(g_idx))
    in_order = len(s_unique) == len(s_idx) and bool(np.all(s_inverse == np.arange(len(s_idx))))
    matrix = data if in_order else data[s_inverse]
    logger.debug("read %s: %d samples x %d genes", path, *matrix.shape)
    return (
        np.ascontiguousarray(matrix, dtype=np.float32),
        [str(s) for s in s_req],
        [str(g) for g in g_req],
    )


def _check_shape(
    path: str | os.PathLike,
    dset: h5py.Dataset,
    samples: Sequence[object] | np.ndarray,
    genes: Sequence[object],
) -> None:
    if dset.ndim != 2 or dset.shape != (len(samples), len(genes)):
        raise ValueError(
            f"{path}: matrix {MATRIX_PATH} has shape {dset.shape} but the file lists "
            f"{len(samples)} column (sample) ids x {len(genes)} row (gene) ids; expected the "
            "GCTX 1.0 layout, samples x genes"
        )


def iter_blocks(
    path: str | os.PathLike, gene_ids: Sequence[str] | None = None, block_size: int = 4096
) -> Iterator[tuple[list[str], np.ndarray]]:
    """Yield (sample ids, float32 [b, n_genes]) blocks over all samples in file order.

    Uncompressed chunked float32 matrices (CMap's layout) are read chunk by chunk with
    ``read_direct_chunk`` and the requested genes gathered in memory; other layouts go through
    HDF5 hyperslabs. Reads are sequential in file order, so the kernel's read-ahead keeps the disk
    busy. Memory is bounded by one block plus one chunk (or one read slab of
    ``_READ_BLOCK_ROWS`` rows), whatever the file size.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    with _open(path) as f:
        dset = f[MATRIX_PATH]
        raw_samples = f[f"{META_PATH['col']}/id"][()]  # decoded block by block
        file_genes = decode_ids(f[f"{META_PATH['row']}/id"][()])
        _check_shape(path, dset, raw_samples, file_genes)
        g_req = list(gene_ids) if gene_ids is not None else file_genes
        g_idx = _index_of(path, file_genes, g_req, "gene (row)")
        runs = _gene_runs(dset, g_idx)
        direct = _direct_chunk_plan(dset, g_idx)
        scratch = _scratch_for(runs)
        chunk_buf = np.empty(int(np.prod(dset.chunks)) * 4 if direct else 0, dtype=np.uint8)
        n = len(raw_samples)
        for start in range(0, n, block_size):
            stop = min(start + block_size, n)
            block = None
            if direct is not None:
                try:
                    block = _read_block_direct(dset, start, stop, direct, len(g_idx), chunk_buf)
                except (OSError, RuntimeError, ValueError) as err:  # e.g. a chunk never written
                    logger.debug("%s: direct chunk read failed (%s); using hyperslabs", path, err)
                    direct = None
            if block is None:
                rows = np.arange(start, stop, dtype=np.int64)
                block = _read_rows(dset, rows, runs, len(g_idx), scratch)
            yield decode_ids(raw_samples[start:stop]), block


def _encode_strings(values: Sequence[str]) -> np.ndarray:
    encoded = [str(v).encode("utf-8") for v in values]
    width = max((len(e) for e in encoded), default=1) or 1
    return np.array(encoded, dtype=f"S{width}")


def _meta_array(path: str | os.PathLike, name: str, column: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.int64)
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64)
    values = ["" if pd.isna(v) else _to_str(v) for v in column.tolist()]
    return _encode_strings(values)


def _write_meta(
    f: h5py.File,
    path: str | os.PathLike,
    axis: Axis,
    ids: Sequence[str],
    meta: pd.DataFrame | None,
) -> None:
    group = f.create_group(META_PATH[axis])
    group.create_dataset("id", data=_encode_strings([str(i) for i in ids]), track_times=False)
    if meta is None:
        return
    missing = [i for i in ids if i not in meta.index]
    if missing:
        raise KeyError(f"{path}: {axis} metadata lacks {len(missing)} ids, e.g. {missing[:5]}")
    aligned = meta.loc[list(ids)]
    for name in sorted(str(c) for c in aligned.columns):
        if name == "id":
            continue
        group.create_dataset(name, data=_meta_array(path, name, aligned[name]), track_times=False)


def write_gctx(
    path: str | os.PathLike,
    matrix: np.ndarray,
    sample_ids: Sequence[str],
    gene_ids: Sequence[str],
    col_meta: pd.DataFrame | None = None,
    row_meta: pd.DataFrame | None = None,
) -> None:
    """Write a samples x genes matrix as GCTX 1.0 (float32, gzip 4 + shuffle), atomically.

    Metadata frames are indexed by id; missing values are written as empty strings (string
    fields) or NaN (numeric fields), never -666.
    """
    mat = np.asarray(matrix, dtype=np.float32)
    if mat.ndim != 2 or mat.shape != (len(sample_ids), len(gene_ids)):
        raise ValueError(
            f"{path}: matrix shape {mat.shape} does not match "
            f"{len(sample_ids)} sample ids x {len(gene_ids)} gene ids"
        )
    for what, ids in (("sample", sample_ids), ("gene", gene_ids)):
        if len(set(ids)) != len(ids):
            dup = pd.Index(list(ids))
            raise ValueError(
                f"{path}: duplicate {what} ids, e.g. {dup[dup.duplicated()].tolist()[:5]}"
            )
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=False) as f:
            f.attrs["version"] = np.bytes_(b"GCTX1.0")
            kwargs: dict[str, object] = {}
            if mat.size > 0:
                kwargs = {
                    "chunks": (min(mat.shape[0], 256), mat.shape[1]),
                    "compression": "gzip",
                    "compression_opts": 4,
                    "shuffle": True,
                }
            f.create_dataset(MATRIX_PATH, data=mat, track_times=False, **kwargs)
            _write_meta(f, path, "col", sample_ids, col_meta)
            _write_meta(f, path, "row", gene_ids, row_meta)
    logger.info("wrote %s: %d samples x %d genes", path, *mat.shape)


class GctxWriter:
    """Write a large samples x genes GCTX block by block (bounded memory), atomically.

    Usage: ``with GctxWriter(path, n_samples, gene_ids, sample_ids) as w: w.write(start, block)``.
    The file appears at ``path`` only when the ``with`` block completes and every row was
    written. Blocks are stored uncompressed in chunks of ``chunk_rows`` samples x ``chunk_genes``
    genes (default: all genes). CMap's files, written by cmapPy, use 1 MB chunks of
    ``(min(n_samples, 256), 1000)``: pass ``chunk_rows=256, chunk_genes=1000`` for that layout.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        n_samples: int,
        gene_ids: Sequence[str],
        sample_ids: Sequence[str],
        chunk_rows: int = 256,
        compression: str | None = None,
        chunk_genes: int | None = None,
    ) -> None:
        if len(sample_ids) != n_samples:
            raise ValueError(f"{path}: {len(sample_ids)} sample ids for {n_samples} samples")
        if chunk_rows < 1 or (chunk_genes is not None and chunk_genes < 1):
            raise ValueError(
                f"{path}: chunk_rows and chunk_genes must be >= 1, got {chunk_rows}, {chunk_genes}"
            )
        self.path = path
        self.n_samples = n_samples
        self.gene_ids = [str(g) for g in gene_ids]
        self.sample_ids = [str(s) for s in sample_ids]
        self.chunk_rows = max(1, min(chunk_rows, n_samples))
        n_genes = max(1, len(self.gene_ids))
        self.chunk_genes = n_genes if chunk_genes is None else min(chunk_genes, n_genes)
        self.compression = compression
        self._written = np.zeros(n_samples, dtype=bool)  # rows written so far

    def __enter__(self) -> GctxWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._file = h5py.File(tmp, "w")
        self._file.attrs["version"] = np.bytes_(b"GCTX1.0")
        self._dset = self._file.create_dataset(
            MATRIX_PATH,
            shape=(self.n_samples, len(self.gene_ids)),
            dtype=np.float32,
            chunks=(self.chunk_rows, self.chunk_genes),
            compression=self.compression,
            track_times=False,
        )
        _write_meta(self._file, self.path, "col", self.sample_ids, None)
        _write_meta(self._file, self.path, "row", self.gene_ids, None)
        return self

    def write(self, start: int, block: np.ndarray) -> None:
        """Write rows ``start .. start + len(block)`` of the matrix."""
        block = np.asarray(block, dtype=np.float32)
        n_genes = len(self.gene_ids)
        if block.ndim != 2 or block.shape[1] != n_genes:
            raise ValueError(
                f"{self.path}: block of shape {block.shape} written at row {start}; expected "
                f"(rows, {n_genes}) with one column per gene"
            )
        if start < 0 or start + block.shape[0] > self.n_samples:
            raise ValueError(
                f"{self.path}: rows {start}..{start + block.shape[0]} are outside the matrix "
                f"of {self.n_samples} samples"
            )
        self._dset[start : start + block.shape[0]] = block
        self._written[start : start + block.shape[0]] = True

    def __exit__(self, exc_type, exc, tb) -> None:
        self._file.close()
        if exc_type is None and not self._written.all():
            missing = np.flatnonzero(~self._written)
            exc = ValueError(
                f"{self.path}: {int(self._written.sum())} of {self.n_samples} rows written "
                f"(first missing row {int(missing[0])}); file discarded"
            )
            self._atomic.__exit__(type(exc), exc, None)
            raise exc
        self._atomic.__exit__(exc_type, exc, tb)
