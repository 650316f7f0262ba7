"""Corruption protocols for validating data valuation: label flips and per-sample feature noise."""

from __future__ import annotations

import numpy as np


def corrupt_labels(
    y: np.ndarray, fraction: float, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly ``round(fraction * n)`` labels, each to a different class drawn uniformly.

    Returns ``(y_corrupt, mask)`` where ``mask`` is True for the flipped samples. ``y`` is not
    modified. The DVRL / DVGS benchmarks flip 20 % of the source labels.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels y have shape {y.shape}, expected 1-D")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction={fraction}, expected a value in [0, 1]")
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes}, expected >= 2 to flip labels")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels span {y.min()}..{y.max()}, expected 0..{n_classes - 1}")
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    n_flip = int(round(fraction * n))
    idx = rng.choice(n, size=n_flip, replace=False)
    # adding an offset in 1..n_classes-1 (mod n_classes) always lands on a different class
    offset = rng.integers(1, n_classes, size=n_flip)
    y_corrupt = y.copy()
    y_corrupt[idx] = (y[idx] + offset) % n_classes
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return y_corrupt, mask


def add_feature_noise(x: np.ndarray, max_sd: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Add Gaussian noise with a per-sample standard deviation: ``x*_i = x_i + N(0, phi_i^2)``.

    ``phi_i ~ U(0, max_sd)`` is drawn once per sample (first axis) and is the noise *standard
    deviation*, shared by all features of that sample. Returns ``(x_noisy, phi)``; ``x_noisy``
    keeps ``x``'s floating dtype. The DVGS calibration (and paper configs) used ``max_sd=3`` on
    min-max scaled features, i.e. noise applied *after* scaling; larger ``phi`` = noisier sample,
    so a good valuation has ``Spearman(phi, -value) > 0``.
    """
    x = np.asarray(x)
    if max_sd < 0:
        raise ValueError(f"max_sd={max_sd}, expected >= 0")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x has shape {x.shape}, expected at least one sample")
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    phi = rng.uniform(0.0, max_sd, size=n)
    noise = rng.standard_normal(size=x.shape) * phi.reshape((n,) + (1,) * (x.ndim - 1))
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return (x + noise).astype(dtype), phi
