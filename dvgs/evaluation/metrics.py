"""Metrics that score data values against planted corruption, and data-removal filter curves.

Convention: higher value = more valuable. Corrupted / noisier samples should get *low* values, so
scores are computed on ``-values``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.cluster import KMeans
from sklearn.metrics import f1_score, roc_auc_score


def _values(values: np.ndarray, n: int, what: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"values have shape {v.shape}, expected ({n},) to match {what}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"values contain {int((~np.isfinite(v)).sum())} non-finite entries")
    return v


def corruption_auroc(mask: np.ndarray, values: np.ndarray) -> float:
    """AUROC of ``-values`` for detecting the corrupted samples (``mask`` True = corrupted)."""
    m = np.asarray(mask, dtype=bool)
    v = _values(values, m.shape[0], "mask")
    if m.all() or not m.any():
        raise ValueError("mask has a single class; AUROC is undefined")
    return float(roc_auc_score(m, -v))


def noise_spearman(phi: np.ndarray, values: np.ndarray) -> float:
    """Spearman correlation of the per-sample noise level ``phi`` with ``-values``."""
    p = np.asarray(phi, dtype=np.float64)
    v = _values(values, p.shape[0], "phi")
    return float(spearmanr(p, -v).statistic)


def kmeans_f1(mask: np.ndarray, values: np.ndarray, seed: int) -> float:
    """F1 of corruption detection by 2-means clustering of the values (OpenDataVal protocol).

    The values are split into two clusters by k-means (k=2, seeded); the cluster holding the lowest
    value is predicted corrupted; F1 is computed against ``mask``.
    """
    m = np.asarray(mask, dtype=bool)
    v = _values(values, m.shape[0], "mask")
    km = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(v.reshape(-1, 1))
    predicted = km.labels_ == km.labels_[int(np.argmin(v))]
    return float(f1_score(m, predicted, zero_division=0.0))


def filter_curve(
    values: np.ndarray,
    fit_and_score: Callable[[np.ndarray], float],
    fractions: Sequence[float],
    remove: Literal["low", "high"] = "low",
) -> pd.DataFrame:
    """Score a model after removing a growing fraction of the lowest- (or highest-) valued samples.

    For each fraction f, the ``round(f * n)`` samples with the lowest values (``remove="low"``) or
    highest values (``"high"``) are dropped (ties broken by sample order, stable sort) and
    ``fit_and_score(keep)`` is called with the boolean keep mask. Returns a DataFrame with columns
    ``fraction``, ``n_removed``, ``score``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values have shape {v.shape}, expected 1-D")
    if remove not in ("low", "high"):
        raise ValueError(f"remove={remove!r}, expected 'low' or 'high'")
    n = v.shape[0]
    order = np.argsort(v if remove == "low" else -v, kind="stable")
    rows = []
    for f in fractions:
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"fraction {f} outside [0, 1]")
        k = int(round(f * n))
        keep = np.ones(n, dtype=bool)
        keep[order[:k]] = False
        rows.append({"fraction": float(f), "n_removed": k, "score": float(fit_and_score(keep))})
    return pd.DataFrame(rows, columns=["fraction", "n_removed", "score"])
