"""GCT 1.3 text reader (CMap's tab-separated matrix format).

Line 1 is ``#1.3``; line 2 ``n_rows n_cols n_rowmeta n_colmeta``; line 3 the header (``id``, the
row-metadata field names, the column ids); then ``n_colmeta`` lines of column metadata (field name,
``na`` under the row-metadata columns, one value per column); then one line per gene (row id, row
metadata, values). Genes are rows in the text; the reader returns samples x genes like GCTX.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from dvgs.io.gctx import clean_meta_column

logger = logging.getLogger(__name__)


class Gct(NamedTuple):
    """A parsed GCT file: ``matrix`` is float32 [n_samples, n_genes]."""

    matrix: np.ndarray
    sample_ids: list[str]
    gene_ids: list[str]
    col_meta: pd.DataFrame
    row_meta: pd.DataFrame


def _read_text(path: str | os.PathLike) -> str:
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _clean_frame(df: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    columns = {str(c): clean_meta_column(df[c].to_numpy(dtype=object)).to_numpy() for c in df}
    return pd.DataFrame(columns, index=pd.Index(ids, name="id"))


def read_gct(path: str | os.PathLike) -> Gct:
    """Parse a GCT 1.3 file; -666 in metadata -> NaN; a column-meta field named ``id`` is dropped."""
    lines = _read_text(path).splitlines()
    if not lines or not lines[0].startswith("#1.3"):
        raise ValueError(f"{path}: line 1 is {lines[:1]!r}, expected '#1.3' (GCT 1.3)")
    dims = lines[1].split("\t")
    try:
        n_rows, n_cols, n_rmeta, n_cmeta = (int(x) for x in dims[:4])
    except ValueError as err:
        raise ValueError(f"{path}: line 2 is {lines[1]!r}, expected four integers") from err
    header = lines[2].split("\t")
    if len(header) != 1 + n_rmeta + n_cols:
        raise ValueError(
            f"{path}: header has {len(header)} fields, expected 1 + {n_rmeta} + {n_cols}"
        )
    row_fields = header[1 : 1 + n_rmeta]
    sample_ids = header[1 + n_rmeta :]

    col_rows = [line.split("\t") for line in lines[3 : 3 + n_cmeta]]
    col_data = {r[0]: r[1 + n_rmeta :] for r in col_rows if r[0] != "id"}
    col_meta = _clean_frame(pd.DataFrame(col_data, dtype=object), sample_ids)

    body = "\n".join(lines[3 + n_cmeta : 3 + n_cmeta + n_rows])
    table = pd.read_csv(io.StringIO(body), sep="\t", header=None, dtype=str, keep_default_na=False)
    if table.shape != (n_rows, 1 + n_rmeta + n_cols):
        raise ValueError(
            f"{path}: data block has shape {table.shape}, expected ({n_rows}, {1 + n_rmeta + n_cols})"
        )
    gene_ids = table.iloc[:, 0].tolist()
    row_meta_raw = table.iloc[:, 1 : 1 + n_rmeta].copy()
    row_meta_raw.columns = row_fields
    row_meta = _clean_frame(row_meta_raw, gene_ids)
    values = table.iloc[:, 1 + n_rmeta :].replace({"NaN": "nan", "": "nan"})
    matrix = values.to_numpy(dtype=np.float64).T.astype(np.float32)
    logger.debug("read %s: %d samples x %d genes", path, *matrix.shape)
    return Gct(np.ascontiguousarray(matrix), list(sample_ids), gene_ids, col_meta, row_meta)
