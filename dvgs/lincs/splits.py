"""Target / test / source splits balanced by perturbation."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SPLIT_MODES = ("all", "high_apc")


def resolve_size(size: float, n_pool: int, name: str) -> int:
    """A set size given as a count (>= 1) or as a fraction of the pool (0 < size < 1)."""
    if size <= 0:
        raise ValueError(f"split: {name} must be > 0 (a count or a fraction), got {size}")
    n = int(round(size * n_pool)) if size < 1 else int(size)
    if size >= 1 and size != int(size):
        raise ValueError(f"split: {name}={size} is neither a fraction in (0, 1) nor a count")
    return max(n, 1)


def balanced_draw(pert_ids: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` positions without replacement, P(i) proportional to 1 / count(pert_id[i])."""
    _, inverse, counts = np.unique(pert_ids, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[inverse]
    return rng.choice(pert_ids.size, size=n, replace=False, p=weights / weights.sum())


def split_signatures(
    signatures: pd.DataFrame,
    n_target: float,
    n_test: float,
    seed: int,
    mode: str = "all",
    apc_threshold: float = 0.5,
) -> pd.DataFrame:
    """Assign every signature to ``target``, ``test`` or ``source``.

    ``signatures`` needs ``sig_id, pert_id`` (and ``apc`` for ``mode="high_apc"``). Target and
    test are drawn without replacement from the eligible pool with probability proportional to
    1/count(pert_id) in that pool, so that frequent compounds do not dominate; every other
    signature is in the source set. Returns ``sig_id, pert_id, set`` in the input order.
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"split: mode must be one of {SPLIT_MODES}, got {mode!r}")
    for column in ("sig_id", "pert_id") + (("apc",) if mode == "high_apc" else ()):
        if column not in signatures.columns:
            raise KeyError(f"split: signature table has no column {column!r}")
    pert = signatures["pert_id"].astype(str).to_numpy()
    if mode == "high_apc":
        eligible = np.flatnonzero(signatures["apc"].to_numpy(dtype=float) > apc_threshold)
    else:
        eligible = np.arange(len(signatures))
    n_t = resolve_size(n_target, eligible.size, "n_target")
    n_v = resolve_size(n_test, eligible.size, "n_test")
    if n_t + n_v >= len(signatures) or n_t + n_v > eligible.size:
        raise ValueError(
            f"split: target ({n_t}) + test ({n_v}) signatures do not fit in the eligible pool "
            f"of {eligible.size} ({mode} mode, {len(signatures)} signatures in all) with a "
            "non-empty source set; lower split.n_target / split.n_test"
            + (" or split.apc_threshold" if mode == "high_apc" else "")
        )
    rng = np.random.default_rng(seed)
    chosen = eligible[balanced_draw(pert[eligible], n_t + n_v, rng)]
    labels = np.full(len(signatures), "source", dtype=object)
    labels[chosen[:n_t]] = "target"
    labels[chosen[n_t:]] = "test"
    logger.info(
        "split (%s, seed %d): %d target, %d test, %d source",
        mode,
        seed,
        n_t,
        n_v,
        int((labels == "source").sum()),
    )
    return pd.DataFrame(
        {
            "sig_id": signatures["sig_id"].astype(str).to_numpy(),
            "pert_id": pert,
            "set": pd.Series(labels, dtype="str").to_numpy(),
        }
    )
