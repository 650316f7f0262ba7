"""Average pairwise Pearson correlation (APC) of level-4 replicates, in one streaming pass.

For replicate vectors centred and scaled to unit norm (u_i), the Pearson correlation of two
replicates is u_i . u_j, so for a signature with n replicates

    APC = sum_{i<j} u_i . u_j / (n (n - 1) / 2) = (||sum_i u_i||^2 - n) / (n (n - 1)).

Level 4 is read once, in file order, landmark genes only, in blocks of ``block_size``
replicates. Each signature that needs an APC owns one float64 accumulator row from the block of
its first replicate to the block of its last (rows are reused once a signature is closed), so
memory is set by the largest number of signatures open in one block, which is small for
plate-ordered files, and not by the file size. When a file would need more accumulator rows than
``max_open_signatures``, the signatures are processed in several passes, each within the bound
(logged as a warning). Per block all work is vectorised: centring and normalising, summing per
signature and closing finished signatures.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dvgs.io import gctx
from dvgs.progress import progress_bar

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


_PLAN_CHUNK = 65_536  # signatures per vectorised planning step (bounds temporary memory)


def _pairs(
    signatures: pd.DataFrame, index: pd.Index, n_listed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(signature row, file position or -1) per listed replicate, each pair once.

    Vectorised over chunks of :data:`_PLAN_CHUNK` signatures so that the temporary string
    tables stay small; fills ``n_listed`` (distinct ids listed per signature).
    """
    raw = signatures["distil_ids"].to_numpy(dtype=object)
    sig_ids = signatures["sig_id"].to_numpy(dtype=object)
    sig_parts: list[np.ndarray] = []
    pos_parts: list[np.ndarray] = []
    n_dup = 0
    dup_examples: list[str] = []
    for c0 in range(0, len(raw), _PLAN_CHUNK):
        text = pd.Series(raw[c0 : c0 + _PLAN_CHUNK], dtype=object)
        text.index = np.arange(c0, c0 + len(text))
        text = text.where(text.notna(), "").astype(str)
        parts = text.str.split("|").explode().str.strip()
        parts = parts[parts.notna() & (parts != "")]
        pairs = pd.DataFrame({"sig": parts.index.to_numpy(np.int64), "id": parts.to_numpy(object)})
        dup = pairs.duplicated().to_numpy()
        if dup.any():
            rows = np.unique(pairs["sig"].to_numpy()[dup])
            n_dup += rows.size
            dup_examples += [str(x) for x in sig_ids[rows[: 5 - len(dup_examples)]]]
            pairs = pairs[~dup]
        sig = pairs["sig"].to_numpy(np.int64)
        n_listed += np.bincount(sig, minlength=n_listed.size)
        sig_parts.append(sig)
        pos_parts.append(index.get_indexer(pairs["id"].to_numpy(object)).astype(np.int64))
    if n_dup:
        logger.warning(
            "%d signatures list a replicate more than once (e.g. %s); each replicate is used once",
            n_dup,
            dup_examples,
        )
    empty = np.zeros(0, dtype=np.int64)
    return (
        np.concatenate(sig_parts) if sig_parts else empty,
        np.concatenate(pos_parts) if pos_parts else empty,
    )


def _plan(
    signatures: pd.DataFrame, index: pd.Index, path: Path
) -> tuple[_Plan, np.ndarray, np.ndarray, np.ndarray]:
    n_sigs = len(signatures)
    if not index.is_unique:
        dup = index[index.duplicated()].unique().tolist()
        raise ValueError(
            f"{path}: {len(dup)} sample ids occur more than once in the level-4 file "
            f"(e.g. {dup[:5]}); replicate ids must be unique"
        )
    n_listed = np.zeros(n_sigs, dtype=np.int64)
    sig, pos = _pairs(signatures, index, n_listed)
    found = pos >= 0
    n_used = np.bincount(sig[found], minlength=n_sigs).astype(np.int64)
    status = np.full(n_sigs, "ok", dtype=object)
    status[n_listed == 1] = "single_replicate"
    status[n_used < n_listed] = "missing_replicates"
    status[n_listed == 0] = "no_replicates_listed"
    keep = found & (status[sig] == "ok")
    sig_index, sample_pos = sig[keep], pos[keep]
    del sig, pos, found, keep
    order = np.argsort(sample_pos, kind="stable")
    sig_index, sample_pos = sig_index[order], sample_pos[order]
    first_pos = np.full(n_sigs, -1, dtype=np.int64)
    last_pos = np.full(n_sigs, -1, dtype=np.int64)
    if sig_index.size:
        # reversed assignment keeps the smallest position for first_pos
        first_pos[sig_index[::-1]] = sample_pos[::-1]
        last_pos[sig_index] = sample_pos
    return _Plan(sig_index, sample_pos, first_pos, last_pos), n_listed, n_used, status


def _max_open(first: np.ndarray, last: np.ndarray) -> int:
    """Largest number of inclusive intervals [first, last] that overlap at one point."""
    starts = np.sort(first)
    ends = np.sort(last)
    # number open at each start = starts so far - ends strictly before it
    open_counts = np.arange(1, starts.size + 1) - np.searchsorted(ends, starts, side="left")
    return int(open_counts.max()) if open_counts.size else 0


def _assign_slots(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Accumulator row per signature: rows are shared only by non-overlapping [first, last]."""
    slots = np.empty(first.size, dtype=np.int64)
    active: list[tuple[int, int]] = []  # heap of (last, slot)
    free: list[int] = []
    n_slots = 0
    for i in np.argsort(first, kind="stable").tolist():
        f = int(first[i])
        while active and active[0][0] < f:
            free.append(heapq.heappop(active)[1])
        if free:
            slot = free.pop()
        else:
            slot = n_slots
            n_slots += 1
        slots[i] = slot
        heapq.heappush(active, (int(last[i]), slot))
    return slots


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


def _add_rows(acc: np.ndarray, owner: np.ndarray, u: np.ndarray) -> None:
    """``acc[owner[i]] += u[i]`` for every i, repeated owners included (vectorised).

    Pairs are ranked within their owner (0 for the first replicate of a signature in the block,
    1 for the second, ...); each rank is one fancy ``+=`` with distinct owners. A signature has
    few replicates, so there are few ranks.
    """
    order = np.argsort(owner, kind="stable")
    o = owner[order]
    idx = np.arange(o.size)
    starts = np.maximum.accumulate(np.where(np.r_[True, o[1:] != o[:-1]], idx, 0))
    rank = idx - starts
    for k in range(int(rank.max()) + 1):
        sel = order[rank == k]
        acc[owner[sel]] += u[sel]


def _stream_pass(
    level4_path: Path,
    gene_ids: list[str],
    plan: _Plan,
    sigs: np.ndarray,
    n_sigs: int,
    n_total: int,
    block_size: int,
    apc: np.ndarray,
    bad_sig: np.ndarray,
    progress: bool,
) -> None:
    """One pass over level 4 computing the APC of signatures ``sigs`` (rows with status ok).

    Each signature owns an accumulator row from the block of its first replicate to the block of
    its last; per block, the unit vectors of its replicates are added to their rows
    (:func:`_add_rows`) and the signatures whose last replicate was in the block are closed, all
    vectorised.
    """
    in_subset = np.zeros(n_sigs, dtype=bool)
    in_subset[sigs] = True
    keep = in_subset[plan.sig_index]
    sig_index, sample_pos = plan.sig_index[keep], plan.sample_pos[keep]
    if sig_index.size == 0:
        return
    n_found = np.bincount(sig_index, minlength=n_sigs)
    slots = _assign_slots(plan.first_pos[sigs] // block_size, plan.last_pos[sigs] // block_size)
    slot_of = np.full(n_sigs, -1, dtype=np.int64)
    slot_of[sigs] = slots
    acc = np.zeros((int(slots.max()) + 1, len(gene_ids)), dtype=np.float64)
    logger.debug("%s: %d accumulator rows for %d signatures", level4_path, acc.shape[0], sigs.size)
    close_order = sigs[np.argsort(plan.last_pos[sigs], kind="stable")]
    close_pos = plan.last_pos[close_order]
    pair = closed = start = 0
    bar = progress_bar(n_total, "APC", unit="replicate", disable=not progress)
    for ids_block, block in gctx.iter_blocks(level4_path, gene_ids=gene_ids, block_size=block_size):
        stop = start + len(ids_block)
        hi = int(np.searchsorted(sample_pos, stop, side="left"))
        if hi > pair:
            u, bad = _normalise(block[sample_pos[pair:hi] - start])
            owner = slot_of[sig_index[pair:hi]]
            if bad.any():
                bad_sig[sig_index[pair:hi][bad]] = True
            _add_rows(acc, owner, u)
            pair = hi
        done = int(np.searchsorted(close_pos, stop, side="left"))
        if done > closed:
            closing = close_order[closed:done]
            total = acc[slot_of[closing]]
            n = n_found[closing].astype(np.float64)
            apc[closing] = (np.einsum("ij,ij->i", total, total) - n) / (n * (n - 1.0))
            acc[slot_of[closing]] = 0.0
            closed = done
        bar.update(len(ids_block))
        start = stop
        if closed >= close_order.size:
            break
    bar.close()
    if closed < close_order.size:
        raise RuntimeError(
            f"{level4_path}: {close_order.size - closed} signatures were not closed by the pass"
        )


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
    for name, value in (("block_size", block_size), ("max_open_signatures", max_open_signatures)):
        if int(value) < 1:
            raise ValueError(f"APC over {level4_path}: {name} must be >= 1, got {value}")
    for column in ("sig_id", "distil_ids"):
        if column not in signatures.columns:
            raise KeyError(
                f"signature table for {level4_path}: missing column {column!r} (needed for APC; "
                f"columns are {list(signatures.columns)[:10]}); load the table with "
                "dvgs.io.adapters.load_signatures, which maps each release's names"
            )
    file_ids = pd.Index(gctx.read_ids(level4_path, "col"))
    plan, n_listed, n_used, status = _plan(signatures, file_ids, level4_path)
    n_sigs = len(signatures)
    apc = np.full(n_sigs, np.nan)
    bad_sig = np.zeros(n_sigs, dtype=bool)
    todo = np.flatnonzero(status == "ok")
    if todo.size:
        peak = _max_open(plan.first_pos[todo] // block_size, plan.last_pos[todo] // block_size)
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
                level4_path,
                gene_ids,
                plan,
                group,
                n_sigs,
                len(file_ids),
                block_size,
                apc,
                bad_sig,
                progress,
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
