"""Filter curves: test-set reconstruction after removing the lowest / highest scored sources."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dvgs.lincs.valuation import load_split_matrices
from dvgs.models.autoencoder import Autoencoder
from dvgs.models.train import reconstruction_r2, train_reconstruction
from dvgs.progress import progress_bar

logger = logging.getLogger(__name__)


def removal_order(scores: np.ndarray, direction: str, rng: np.random.Generator) -> np.ndarray:
    """Source positions in the order they are removed.

    ``low`` removes the lowest scores first, ``high`` the highest first. Missing scores (NaN,
    e.g. no APC) rank below every defined score in both directions, in a random order drawn from
    ``rng`` (not the input order, which would make a sparsely scored method look like a ranking by
    ``sig_id``); ties among defined scores keep input order.
    """
    if direction not in ("low", "high"):
        raise ValueError(f"filter curves: direction must be 'low' or 'high', got {direction!r}")
    missing = np.isnan(scores)
    scored = np.flatnonzero(~missing)
    keyed = scores[scored] if direction == "low" else -scores[scored]
    by_score = scored[np.argsort(keyed, kind="stable")]
    unscored = rng.permutation(np.flatnonzero(missing))
    # low: unscored first (they rank lowest); high: unscored last
    if direction == "low":
        return np.concatenate([unscored, by_score])
    return np.concatenate([by_score, unscored])


def compute_filter_curves(
    level5_path: str | Path,
    split: pd.DataFrame,
    gene_ids: list[str],
    scores: Mapping[str, pd.Series],
    fractions: Sequence[float],
    seeds: Sequence[int],
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    hidden: int = 256,
    latent: int = 64,
    n_hidden_layers: int = 1,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Test R^2 of an autoencoder trained on the source set minus a removed fraction.

    ``scores`` maps a method name to a Series of scores indexed by ``sig_id`` (higher = better
    quality); a ``random`` method is added, drawing a fresh random order per seed. Returns
    ``method, direction, fraction, seed, n_train, n_scored, test_r2`` (``n_scored``: source
    signatures the method has a score for; the others are removed first, in random order, when
    removing the lowest).
    """
    if threads:
        torch.set_num_threads(threads)
    _, x_test, x_source, _, _, source_ids = load_split_matrices(level5_path, split, gene_ids)
    n_source, n_genes = x_source.shape
    methods: dict[str, np.ndarray] = {}
    for name, series in scores.items():
        aligned = series.reindex(source_ids).to_numpy(dtype=float)
        if np.isnan(aligned).all():
            logger.warning("filter curves: method %s has no scores for the source set", name)
            continue
        methods[name] = aligned
    fractions = sorted(set(float(f) for f in fractions))
    rows = []
    total = len(seeds) * (1 + (len(methods) + 1) * 2 * sum(f > 0 for f in fractions))
    bar = progress_bar(total, "filter curves", unit="fit", disable=not progress)

    def fit_score(keep: np.ndarray, seed: int) -> float:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # initialisation (and dropout) of the fresh model
            model = Autoencoder(
                n_genes, hidden=hidden, latent=latent, n_hidden_layers=n_hidden_layers
            )
            model = train_reconstruction(
                model, x_source[keep], epochs, batch_size, lr, seed=seed, device=device
            )
        bar.update(1)
        return reconstruction_r2(model, x_test)

    for seed in seeds:
        rng = np.random.default_rng(seed)
        per_seed = dict(methods)
        per_seed["random"] = rng.random(n_source)
        full = fit_score(np.ones(n_source, dtype=bool), seed)
        for name, values in per_seed.items():
            for direction in ("low", "high"):
                order = removal_order(values, direction, np.random.default_rng([seed, 1]))
                for fraction in fractions:
                    n_remove = int(round(fraction * n_source))
                    if n_remove == 0:
                        r2 = full
                    else:
                        keep = np.ones(n_source, dtype=bool)
                        keep[order[:n_remove]] = False
                        r2 = fit_score(keep, seed)
                    rows.append(
                        {
                            "method": name,
                            "direction": direction,
                            "fraction": fraction,
                            "seed": seed,
                            "n_train": n_source - n_remove,
                            "n_scored": int(np.isfinite(values).sum()),
                            "test_r2": r2,
                        }
                    )
    bar.close()
    return pd.DataFrame(rows)


def scores_for_curves(
    values: pd.DataFrame, apc: pd.DataFrame, signatures: pd.DataFrame
) -> dict[str, pd.Series]:
    """Scores compared by the filter curves: DVGS, APC and CMap's cc_q75 where the release has it."""
    scores = {
        "dvgs": values.set_index("sig_id")["dvgs_value"],
        "apc": apc.set_index("sig_id")["apc"],
    }
    if "cc_q75" in signatures.columns and signatures["cc_q75"].notna().any():
        scores["cc_q75"] = signatures.set_index("sig_id")["cc_q75"].astype(float)
    return scores
