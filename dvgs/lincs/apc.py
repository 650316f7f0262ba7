"""Average pairwise Pearson correlation (APC) of level-4 replicates, in one streaming pass.

For replicate vectors centred and scaled to unit norm (u_i), the Pearson correlation of two
replicates is u_i . u_j, so for a signature with n replicates

    APC = sum_{i<j} u_i . u_j / (n (n - 1) / 2) = (||sum_i u_i||^2 - n) / (n (n - 1)).

Level 4 is read once, in file order, landmark genes only. Each signature that needs an APC holds
one accumulator row from its first to its last replicate in file order ("open" signatures); the
row is freed as soon as its last replicate has been added. Peak memory is therefore set by the
largest number of simultaneously open signatures, which is small for plate-ordered files. When a
file would need more accumulator rows than ``max_open_signatures``, the signatures are processed
in several passes, each within the bound (logged as a warning).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dvgs.io import gctx

logger = logging.getLogger(__name__)

APC_STATUSES = (
    "ok",
    "single_replicate",
    "no_replicates_listed",
    "missing_replicates",
    "constant_or_nan_replicate",
)


@dataclass(frozen=True)
class _Plan:
    """Which signatures need an APC and where their replicates lie in the file."""

    sig_index: np.ndarray  # (n_pairs,) signature row of each (sample, signature) pair
    sample_pos: np.ndarray  # (n_pairs,) file position of the sample, sorted ascending
    first_pos: np.ndarray  # (n_sigs,) first file position per signature (-1 when not computed)
    last_pos: np.ndarray  # (n_sigs,) last file position per signature (-1 when not computed)


def split_distil_ids(value: object) -> list[str]:
    """Split a ``|``-joined ``distil_ids`` field into ids; empty or NaN gives an empty list."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    text = str(value).strip()
    if not text:
        return []
    return [part.strip() for part in text.split("|") if part.strip()]


def _plan(
    signatures: pd.DataFrame, file_ids: list[str]
) -> tuple[_Plan, np.ndarray, np.ndarray, np.ndarray]:
    position = {sid: i for i, sid in enumerate(file_ids)}
    n_sigs = len(signatures)
    n_listed = np.zeros(n_sigs, dtype=np.int64)
    n_used = np.zeros(n_sigs, dtype=np.int64)
    status = np.empty(n_sigs, dtype=object)
    sig_rows: list[np.ndarray] = []
    pos_rows: list[np.ndarray] = []
    for k, raw in enumerate(signatures["distil_ids"].tolist()):
        ids = split_distil_ids(raw)
        unique_ids = list(dict.fromkeys(ids))
        if len(unique_ids) < len(ids):
            logger.warning(
                "signature %s lists a replicate more than once; each replicate is used once",
                signatures["sig_id"].iat[k],
            )
        n_listed[k] = len(unique_ids)
        found = [position[i] for i in unique_ids if i in position]
        n_used[k] = len(found)
        if not unique_ids:
            status[k] = "no_replicates_listed"
        elif len(found) < len(unique_ids):
            status[k] = "missing_replicates"
        elif len(unique_ids) == 1:
            status[k] = "single_replicate"
        else:
            status[k] = "ok"
            sig_rows.append(np.full(len(found), k, dtype=np.int64))
            pos_rows.append(np.asarray(found, dtype=np.int64))
    sig_index = np.concatenate(sig_rows) if sig_rows else np.zeros(0, dtype=np.int64)
    sample_pos = np.concatenate(pos_rows) if pos_rows else np.zeros(0, dtype=np.int64)
    order = np.argsort(sample_pos, kind="stable")
    sig_index, sample_pos = sig_index[order], sample_pos[order]
    first_pos = np.full(n_sigs, -1, dtype=np.int64)
    last_pos = np.full(n_sigs, -1, dtype=np.int64)
    if sig_index.size:
        # reversed assignment keeps the smallest position for first_pos
        first_pos[sig_index[::-1]] = sample_pos[::-1]
        last_pos[sig_index] = sample_pos
    return _Plan(sig_index, sample_pos, first_pos, last_pos), n_listed, n_used, status


def _max_open(first_pos: np.ndarray, last_pos: np.ndarray) -> int:
    """Largest number of signatures whose [first, last] intervals overlap at one position."""
    starts = np.sort(first_pos)
    ends = np.sort(last_pos)
    # number open at each start = starts so far - ends strictly before it
    open_counts = np.arange(1, starts.size + 1) - np.searchsorted(ends, starts, side="left")
    return int(open_counts.max()) if open_counts.size else 0


def _normalise(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and unit-normalise rows in float64; return (u, bad) with bad rows flagged."""
    x = block.astype(np.float64, copy=True)
    x -= x.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))
    bad = ~np.isfinite(norm) | (norm == 0.0)
    norm[bad] = 1.0
    x /= norm[:, None]
    x[bad] = 0.0
    return x, bad


def _stream_pass(
    level4_path: Path,
    gene_ids: list[str],
    plan: _Plan,
    sig_subset: np.ndarray,
    n_sigs: int,
    block_size: int,
    apc: np.ndarray,
    bad_sig: np.ndarray,
    progress: bool,
) -> None:
    in_subset = np.zeros(n_sigs, dtype=bool)
    in_subset[sig_subset] = True
    keep = in_subset[plan.sig_index]
    sig_index, sample_pos = plan.sig_index[keep], plan.sample_pos[keep]
    if sig_index.size == 0:
        return
    n_found = np.bincount(sig_index, minlength=n_sigs)
    sums: dict[int, np.ndarray] = {}
    seen = np.zeros(n_sigs, dtype=np.int64)
    n_total = len(gctx.read_ids(level4_path, "col"))
    pair = 0
    start = 0
    bar = tqdm(total=n_total, unit="replicate", desc="APC", disable=not progress, mininterval=5)
    for ids_block, block in gctx.iter_blocks(level4_path, gene_ids=gene_ids, block_size=block_size):
        stop = start + len(ids_block)
        hi = int(np.searchsorted(sample_pos, stop, side="left"))
        if hi > pair:
            u, bad = _normalise(block)
            rows = sample_pos[pair:hi] - start
            sigs = sig_index[pair:hi]
            for r, s in zip(rows.tolist(), sigs.tolist(), strict=True):
                acc = sums.get(s)
                if acc is None:
                    sums[s] = u[r].copy()
                else:
                    acc += u[r]
                if bad[r]:
                    bad_sig[s] = True
                seen[s] += 1
                if seen[s] == n_found[s]:
                    total = sums.pop(s)
                    n = float(n_found[s])
                    apc[s] = (float(total @ total) - n) / (n * (n - 1.0))
            pair = hi
        bar.update(len(ids_block))
        start = stop
        if pair >= sample_pos.size:
            break
    bar.close()
    if sums:
        raise RuntimeError(f"{level4_path}: {len(sums)} signatures were not closed")


def compute_apc(
    level4_path: str | Path,
    signatures: pd.DataFrame,
    gene_ids: list[str],
    block_size: int = 8192,
    max_open_signatures: int = 200_000,
    progress: bool = False,
) -> pd.DataFrame:
    """APC per signature from its listed level-4 replicates over ``gene_ids``.

    Returns one row per signature (same order): ``sig_id, n_replicates_listed,
    n_replicates_used, apc, apc_status``. APC is NaN whenever the status is not ``ok``.
    """
    level4_path = Path(level4_path)
    for column in ("sig_id", "distil_ids"):
        if column not in signatures.columns:
            raise KeyError(f"signature table: missing column {column!r} (needed for APC)")
    file_ids = gctx.read_ids(level4_path, "col")
    plan, n_listed, n_used, status = _plan(signatures, file_ids)
    n_sigs = len(signatures)
    apc = np.full(n_sigs, np.nan)
    bad_sig = np.zeros(n_sigs, dtype=bool)
    todo = np.flatnonzero(status == "ok")
    if todo.size:
        peak = _max_open(plan.first_pos[todo], plan.last_pos[todo])
        n_passes = max(1, int(np.ceil(peak / max_open_signatures)))
        if n_passes > 1:
            logger.warning(
                "%s: up to %d signatures are open at once (replicates far apart in the file); "
                "using %d passes to stay within max_open_signatures=%d",
                level4_path,
                peak,
                n_passes,
                max_open_signatures,
            )
        groups = np.array_split(todo[np.argsort(plan.first_pos[todo], kind="stable")], n_passes)
        for group in groups:
            _stream_pass(
                level4_path, gene_ids, plan, group, n_sigs, block_size, apc, bad_sig, progress
            )
    status[bad_sig] = "constant_or_nan_replicate"
    apc[bad_sig] = np.nan
    counts = pd.Series(status).value_counts().to_dict()
    logger.info("APC for %d signatures: %s", n_sigs, counts)
    return pd.DataFrame(
        {
            "sig_id": signatures["sig_id"].astype(str).to_numpy(),
            "n_replicates_listed": n_listed,
            "n_replicates_used": n_used,
            "apc": apc,
            "apc_status": pd.Series(status, dtype="str").to_numpy(),
        }
    )
