"""Baseline valuations: fast paths against slow references, and label-corruption recovery on
real ADULT (1000 source, 400 target, 20 % flipped labels)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from dvgs.datasets import load_adult, make_benchmark_split
from dvgs.evaluation.corruption import corrupt_labels
from dvgs.evaluation.metrics import corruption_auroc
from dvgs.valuation.baselines import (
    value_data_oob,
    value_dvrl,
    value_knn_shapley,
    value_loo,
    value_random,
    value_tmc_shapley,
)

ROOT = Path(__file__).resolve().parents[2] / "resources" / "benchmarks"

Problem = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def adult_flipped() -> Problem:
    d = make_benchmark_split(load_adult(ROOT / "adult"), 1000, 400, 0, seed=0)
    y, mask = corrupt_labels(d.y_source, 0.2, 2, seed=1)
    return d.x_source, y, d.x_target, d.y_target, mask


# ------------------------------------------------------------------ slow references


def _knn_utility(
    xs: np.ndarray, ys: np.ndarray, x: np.ndarray, y: int, subset: tuple, k: int
) -> float:
    if not subset:
        return 0.0
    idx = np.array(subset)
    d = ((xs[idx] - x) ** 2).sum(axis=1)
    nearest = idx[np.argsort(d, kind="stable")[:k]]
    return float((ys[nearest] == y).sum()) / k


def _exact_shapley_knn(xs, ys, xt, yt, k) -> np.ndarray:  # type: ignore[no-untyped-def]
    n = len(ys)
    values = np.zeros(n)
    for x, y in zip(xt, yt, strict=True):
        for perm in itertools.permutations(range(n)):
            prev = 0.0
            for j in range(n):
                cur = _knn_utility(xs, ys, x, int(y), perm[: j + 1], k)
                values[perm[j]] += cur - prev
                prev = cur
    return values / (math.factorial(n) * len(yt))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_knn_shapley_matches_permutation_enumeration(k: int) -> None:
    rng = np.random.default_rng(k)
    xs, ys = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
    xt, yt = rng.normal(size=(3, 3)), rng.integers(0, 2, 3)
    fast = value_knn_shapley(xs, ys, xt, yt, k=k, chunk_size=2)
    assert np.allclose(fast, _exact_shapley_knn(xs, ys, xt, yt, k), atol=1e-12)
    # efficiency: values sum to utility(all) - utility(empty), averaged over targets
    full = np.mean(
        [_knn_utility(xs, ys, x, int(y), tuple(range(6)), k) for x, y in zip(xt, yt, strict=True)]
    )
    assert fast.sum() == pytest.approx(full)


def test_loo_matches_cold_refits() -> None:
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(40, 4)), rng.integers(0, 2, 40)
    xt, yt = rng.normal(size=(30, 4)), rng.integers(0, 2, 30)
    fast = value_loo(xs, ys, xt, yt)
    ref = np.empty(40)

    def score(idx: np.ndarray) -> float:
        m = LogisticRegression(max_iter=5000, tol=1e-10).fit(xs[idx], ys[idx])
        p = m.predict_proba(xt)[np.arange(30), yt]
        return float(np.log(p).mean())

    full = score(np.arange(40))
    for i in range(40):
        ref[i] = full - score(np.delete(np.arange(40), i))
    assert np.allclose(fast, ref, atol=1e-5)


def test_values_permute_with_samples() -> None:
    rng = np.random.default_rng(1)
    xs, ys = rng.normal(size=(50, 3)), rng.integers(0, 3, 50)
    xt, yt = rng.normal(size=(20, 3)), rng.integers(0, 3, 20)
    perm = rng.permutation(50)
    v = value_knn_shapley(xs, ys, xt, yt, k=5)
    assert np.allclose(value_knn_shapley(xs[perm], ys[perm], xt, yt, k=5), v[perm])
    v = value_loo(xs, ys, xt, yt)
    assert np.allclose(value_loo(xs[perm], ys[perm], xt, yt), v[perm], atol=1e-5)


def test_seeded_and_typed() -> None:
    rng = np.random.default_rng(2)
    xs, ys = rng.normal(size=(60, 4)), rng.integers(0, 2, 60)
    xt, yt = rng.normal(size=(30, 4)), rng.integers(0, 2, 30)
    runs = [
        lambda s: value_random(60, s),
        lambda s: value_data_oob(xs, ys, n_estimators=20, seed=s),
        lambda s: value_tmc_shapley(xs, ys, xt, yt, n_permutations=2, seed=s),
        lambda s: value_dvrl(xs, ys, xt, yt, n_iterations=5, batch_size=32, seed=s),
    ]
    for run in runs:
        a, b, c = run(0), run(0), run(1)
        assert a.dtype == np.float64 and a.shape == (60,)
        assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_single_class_subsets_use_fallback() -> None:
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(30, 2))
    ys = np.zeros(30, dtype=np.int64)
    ys[:2] = 1  # most small coalitions have one class
    xt, yt = rng.normal(size=(10, 2)), rng.integers(0, 2, 10)
    v = value_tmc_shapley(xs, ys, xt, yt, n_permutations=3, min_size=1, seed=0)
    assert np.all(np.isfinite(v))
    v = value_loo(xs[:3], np.array([0, 0, 1]), xt, yt)
    assert np.all(np.isfinite(v))


def test_input_errors() -> None:
    with pytest.raises(ValueError, match="x_t has 3"):
        value_knn_shapley(np.zeros((4, 2)), np.zeros(4, int), np.zeros((2, 3)), np.zeros(2, int))
    with pytest.raises(ValueError, match="metric"):
        value_loo(
            np.zeros((4, 2)), np.zeros(4, int), np.zeros((2, 2)), np.zeros(2, int), metric="f1"
        )  # type: ignore[arg-type]


# ------------------------------------------------------------------ real ADULT, 20 % flipped


def test_random_is_chance(adult_flipped: Problem) -> None:
    *_, mask = adult_flipped
    aurocs = [corruption_auroc(mask, value_random(1000, s)) for s in range(5)]
    assert abs(np.mean(aurocs) - 0.5) < 0.04


def test_knn_shapley_recovers_flips(adult_flipped: Problem) -> None:
    xs, ys, xt, yt, mask = adult_flipped
    assert corruption_auroc(mask, value_knn_shapley(xs, ys, xt, yt, k=10)) > 0.8


def test_loo_recovers_flips(adult_flipped: Problem) -> None:
    xs, ys, xt, yt, mask = adult_flipped
    assert corruption_auroc(mask, value_loo(xs, ys, xt, yt)) > 0.7


def test_data_oob_recovers_flips(adult_flipped: Problem) -> None:
    xs, ys, _, _, mask = adult_flipped
    assert corruption_auroc(mask, value_data_oob(xs, ys, n_estimators=200, seed=0)) > 0.8


def test_tmc_shapley_recovers_flips(adult_flipped: Problem) -> None:
    xs, ys, xt, yt, mask = adult_flipped
    v = value_tmc_shapley(xs, ys, xt, yt, metric="log_loss", n_permutations=3, seed=0)
    assert corruption_auroc(mask, v) > 0.65


def test_dvrl_recovers_flips(adult_flipped: Problem) -> None:
    xs, ys, xt, yt, mask = adult_flipped
    v = value_dvrl(xs, ys, xt, yt, n_iterations=150, seed=0)
    assert corruption_auroc(mask, v) > 0.7
