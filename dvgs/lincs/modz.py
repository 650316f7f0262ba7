"""CMap's moderated z-score (MODZ) collapse of replicate level-4 profiles into one signature.

Follows cmapM's ``modzs.m``: Spearman correlations between replicates over the landmark genes,
diagonal zeroed, correlations below 0 clipped to 0, raw weight ``w_i = 0.5 * sum_{j != i} rho_ij``,
clipped below at 0.01, normalised to sum 1; the profile is ``sum_i w_i x_i``. The factor 0.5 only
matters through the 0.01 floor. A single replicate is returned as is (weight 1).

CMap's level-5 builds also clip the replicate z-scores to [-10, 10] before averaging (checked on the
CRCGN014 files: exact agreement with clipping, 31 of 978 genes off without it); ``clip`` reproduces
that and is off by default.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.stats import rankdata

logger = logging.getLogger(__name__)


def spearman_matrix(replicates: np.ndarray) -> np.ndarray:
    """Pairwise Spearman correlation [n, n] between rows of ``replicates`` [n, n_genes]."""
    x = np.asarray(replicates, dtype=np.float64)
    ranks = rankdata(x, axis=1)
    if x.shape[0] == 1:
        return np.ones((1, 1))
    return np.atleast_2d(np.corrcoef(ranks))


def cc_q75(replicates: np.ndarray, gene_mask: np.ndarray | None = None) -> float:
    """75th percentile of pairwise Spearman correlations (CMap ``cc_q75``); NaN for one replicate.

    Uses MATLAB's ``quantile`` convention (numpy ``method="hazen"``), which is what CMap's
    ``distil_cc_q75`` uses (checked on CRCGN014: 0.34 for correlations 0.07, 0.22, 0.38).
    """
    x = np.asarray(replicates, dtype=np.float64)
    if gene_mask is not None:
        x = x[:, gene_mask]
    if x.shape[0] < 2:
        return float("nan")
    rho = spearman_matrix(x)
    upper = rho[np.triu_indices(x.shape[0], k=1)]
    return float(np.quantile(upper, 0.75, method="hazen"))


def modz(
    replicates: np.ndarray,
    gene_mask: np.ndarray | None = None,
    min_weight: float = 0.01,
    clip: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """MODZ profile and normalised weights of replicate rows ``replicates`` [n, n_genes].

    ``gene_mask`` (bool or index array over genes) picks the genes used for the correlations
    (the landmarks); the profile covers all genes. ``clip`` clips the replicates to
    [-clip, clip] before averaging (CMap's level-5 builds use 10).
    """
    x = np.asarray(replicates, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"replicates must be a non-empty 2-D array, got shape {x.shape}")
    if clip is not None:
        x = np.clip(x, -clip, clip)
    n = x.shape[0]
    if n == 1:
        return x[0].copy(), np.ones(1)
    corr_x = x[:, gene_mask] if gene_mask is not None else x
    rho = spearman_matrix(corr_x)
    np.fill_diagonal(rho, 0.0)
    rho = np.clip(rho, 0.0, None)
    raw = np.clip(0.5 * rho.sum(axis=1), min_weight, None)
    weights = raw / raw.sum()
    return weights @ x, weights
