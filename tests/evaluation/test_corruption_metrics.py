"""Corruption protocols and metrics against sklearn / scipy on hand-made examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import f1_score, roc_auc_score

from dvgs.evaluation.corruption import add_feature_noise, corrupt_labels
from dvgs.evaluation.metrics import corruption_auroc, filter_curve, kmeans_f1, noise_spearman


@pytest.mark.parametrize(("n", "fraction", "k"), [(1000, 0.2, 2), (333, 0.1, 10), (7, 0.5, 3)])
def test_corrupt_labels_exact_and_flipped(n: int, fraction: float, k: int) -> None:
    y = np.random.default_rng(0).integers(0, k, size=n)
    yc, mask = corrupt_labels(y, fraction, k, seed=1)
    assert mask.sum() == round(fraction * n)
    assert np.all(yc[mask] != y[mask]) and np.array_equal(yc[~mask], y[~mask])
    assert yc.min() >= 0 and yc.max() < k
    yc2, mask2 = corrupt_labels(y, fraction, k, seed=1)
    assert np.array_equal(yc, yc2) and np.array_equal(mask, mask2)
    _, mask3 = corrupt_labels(y, fraction, k, seed=2)
    assert not np.array_equal(mask, mask3)


def test_corrupt_labels_multiclass_targets_spread() -> None:
    y = np.zeros(3000, dtype=np.int64)
    yc, mask = corrupt_labels(y, 1.0, 10, seed=0)
    counts = np.bincount(yc, minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 250  # uniform over the 9 other classes


def test_corrupt_labels_errors() -> None:
    with pytest.raises(ValueError, match="fraction"):
        corrupt_labels(np.zeros(5, dtype=int), 1.5, 2, seed=0)
    with pytest.raises(ValueError, match="labels span"):
        corrupt_labels(np.array([0, 3]), 0.5, 2, seed=0)


def test_add_feature_noise() -> None:
    x = np.zeros((2000, 400), dtype=np.float32)
    xn, phi = add_feature_noise(x, 3.0, seed=0)
    assert xn.dtype == np.float32 and phi.shape == (2000,)
    assert phi.min() >= 0 and phi.max() <= 3.0
    # per-sample sd of the added noise matches phi
    assert np.corrcoef(xn.std(axis=1), phi)[0, 1] > 0.99
    assert np.allclose(xn.std(axis=1), phi, rtol=0.25, atol=0.01)
    again, phi2 = add_feature_noise(x, 3.0, seed=0)
    assert np.array_equal(xn, again) and np.array_equal(phi, phi2)
    img = np.ones((5, 3, 4, 4))
    xi, _ = add_feature_noise(img, 0.5, seed=1)
    assert xi.shape == img.shape and img.max() == 1.0  # input not modified


def test_corruption_auroc_and_spearman_match_references() -> None:
    mask = np.array([1, 0, 1, 0, 0, 1, 0, 0], dtype=bool)
    values = np.array([0.1, 0.9, 0.3, 0.2, 0.8, 0.05, 0.7, 0.4])
    assert corruption_auroc(mask, values) == pytest.approx(roc_auc_score(mask, -values))
    assert corruption_auroc(mask, -values) == pytest.approx(1 - roc_auc_score(mask, -values))
    phi = np.array([3.0, 0.1, 2.0, 1.0, 0.5, 2.5, 0.2, 1.5])
    assert noise_spearman(phi, values) == pytest.approx(spearmanr(phi, -values).statistic)
    with pytest.raises(ValueError, match="single class"):
        corruption_auroc(np.zeros(8, dtype=bool), values)
    with pytest.raises(ValueError, match="shape"):
        corruption_auroc(mask, values[:3])


def test_kmeans_f1_clear_case() -> None:
    rng = np.random.default_rng(0)
    mask = np.zeros(200, dtype=bool)
    mask[:40] = True
    values = np.where(mask, rng.normal(-5, 0.3, 200), rng.normal(5, 0.3, 200))
    assert kmeans_f1(mask, values, seed=0) == pytest.approx(1.0)
    # half of the corrupted samples look clean: recall 0.5, precision 1
    values2 = values.copy()
    values2[:20] = rng.normal(5, 0.3, 20)
    predicted = (np.arange(200) >= 20) & (np.arange(200) < 40)
    expected = f1_score(mask, predicted, zero_division=0.0)
    assert expected == pytest.approx(2 / 3)
    assert kmeans_f1(mask, values2, seed=0) == pytest.approx(2 / 3)


def test_filter_curve_monotone_toy() -> None:
    # 100 samples, the 30 lowest-valued are "bad": score = fraction of kept samples that are good
    values = np.arange(100, dtype=float)
    good = values >= 30

    def fit_and_score(keep: np.ndarray) -> float:
        return float(good[keep].mean()) if keep.any() else 0.0

    fr = [0.0, 0.1, 0.2, 0.3]
    low = filter_curve(values, fit_and_score, fr, remove="low")
    assert list(low.columns) == ["fraction", "n_removed", "score"]
    assert low["n_removed"].tolist() == [0, 10, 20, 30]
    assert np.all(np.diff(low["score"]) > 0) and low["score"].iloc[-1] == 1.0
    high = filter_curve(values, fit_and_score, fr, remove="high")
    assert np.all(np.diff(high["score"]) < 0)
    with pytest.raises(ValueError, match="remove"):
        filter_curve(values, fit_and_score, fr, remove="middle")  # type: ignore[arg-type]
