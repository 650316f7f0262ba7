"""Baseline data-valuation methods, written from their papers.

* ``value_random``       random values (the null baseline).
* ``value_loo``          leave-one-out: score(all) - score(all without i).
* ``value_knn_shapley``  exact Shapley values of a K-nearest-neighbour utility (Jia et al. 2019,
                         "Efficient task-specific data valuation for nearest neighbor algorithms").
* ``value_tmc_shapley``  truncated Monte Carlo Shapley (Ghorbani & Zou 2019, "Data Shapley").
* ``value_data_oob``     out-of-bag accuracy of a bagged decision-tree ensemble (Kwon & Zou 2023,
                         "Data-OOB").
* ``value_dvrl``         reinforcement-learning data valuation (Yoon, Arik & Pfister 2020, "DVRL").

All take source features ``x_s`` (n, ...) and integer labels ``y_s`` (n,), most a clean target set
``x_t``, ``y_t``; features with more than two axes (images) are flattened. Every function returns a
float64 array of n values, higher = more valuable, and every random choice is driven by ``seed``.
``blas_threads`` (default 1) caps BLAS/OpenMP threads inside the refit loops of LOO, TMC and
Data-OOB (``threadpoolctl``; restored afterwards): the many tiny fits run several times slower
when threads oversubscribe the cores. DVRL sets torch threads to ``torch_threads`` (default 1)
for the call.
Budget defaults are sized so that 1000 source / 400 target samples (108 features) run on two CPU
cores in: KNN < 5 s, LOO < 30 s, Data-OOB < 30 s, TMC < 5 min, DVRL < 3 min.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from dvgs.threads import num_threads

logger = logging.getLogger(__name__)

Metric = Literal["accuracy", "log_loss"]
ModelFactory = Callable[[], Any]

_EPS = 1e-12


# --------------------------------------------------------------------------- helpers


def _flat(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim < 1 or a.shape[0] == 0:
        raise ValueError(f"{name} has shape {a.shape}, expected (n, features...) with n > 0")
    return a.reshape(a.shape[0], -1).astype(np.float64, copy=False)


def _labels(y: np.ndarray, n: int, name: str) -> np.ndarray:
    a = np.asarray(y)
    if a.shape != (n,):
        raise ValueError(f"{name} has shape {a.shape}, expected ({n},)")
    if not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.equal(np.mod(a, 1), 0)):
            raise ValueError(f"{name} has non-integer labels, expected class ids 0..K-1")
    a = a.astype(np.int64)
    if a.min() < 0:
        raise ValueError(f"{name} has negative labels ({a.min()}), expected class ids 0..K-1")
    return a


def _inputs(
    x_s: np.ndarray, y_s: np.ndarray, x_t: np.ndarray, y_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    xs, xt = _flat(x_s, "x_s"), _flat(x_t, "x_t")
    if xs.shape[1] != xt.shape[1]:
        raise ValueError(f"x_s has {xs.shape[1]} features but x_t has {xt.shape[1]}")
    ys, yt = _labels(y_s, xs.shape[0], "y_s"), _labels(y_t, xt.shape[0], "y_t")
    n_classes = int(max(ys.max(), yt.max())) + 1
    return xs, ys, xt, yt, max(n_classes, 2)


def _default_factory(n_features: int, n_classes: int) -> ModelFactory:
    """Warm-starting L2 logistic regression (C=1). Newton-Cholesky when the Hessian is small
    (exact-ish refits in 1-2 steps from a warm start), L-BFGS otherwise (e.g. images)."""
    solver = "newton-cholesky" if (n_features + 1) * max(n_classes - 1, 1) <= 600 else "lbfgs"

    def factory() -> LogisticRegression:
        return LogisticRegression(solver=solver, max_iter=1000, tol=1e-6, warm_start=True)

    return factory


def _prior_score(y_sub: np.ndarray, y_t: np.ndarray, metric: Metric, n_classes: int) -> float:
    """Score of the fallback model used when a subset cannot train a classifier (empty or one
    class): predict the Laplace-smoothed class frequencies of the subset."""
    counts = np.bincount(y_sub, minlength=n_classes).astype(np.float64)
    p = (counts + 1.0) / (counts.sum() + n_classes)
    if metric == "accuracy":
        if y_sub.size == 0:
            return 1.0 / n_classes  # expected accuracy of a random guess
        return float(np.mean(y_t == int(np.argmax(p))))
    return float(np.mean(np.log(p[y_t])))


def _model_score(
    model: Any, x_t: np.ndarray, y_t: np.ndarray, metric: Metric, n_classes: int
) -> float:
    """Accuracy, or negative log-loss (higher = better), of a fitted sklearn classifier."""
    if metric == "accuracy":
        return float(np.mean(model.predict(x_t) == y_t))
    proba = np.full((x_t.shape[0], n_classes), _EPS)
    proba[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(x_t)
    proba = np.clip(proba, _EPS, 1.0)
    proba /= proba.sum(axis=1, keepdims=True)
    return float(np.mean(np.log(proba[np.arange(y_t.shape[0]), y_t])))


def _check_metric(metric: str) -> None:
    if metric not in ("accuracy", "log_loss"):
        raise ValueError(f"metric={metric!r}, expected 'accuracy' or 'log_loss'")


# --------------------------------------------------------------------------- random / LOO


def value_random(n: int, seed: int) -> np.ndarray:
    """Uniform random values in [0, 1): the null baseline (AUROC ~0.5 for any corruption)."""
    if n < 1:
        raise ValueError(f"n={n}, expected >= 1")
    return np.random.default_rng(seed).random(n)


def value_loo(
    x_s: np.ndarray,
    y_s: np.ndarray,
    x_t: np.ndarray,
    y_t: np.ndarray,
    model_factory: ModelFactory | None = None,
    metric: Metric = "log_loss",
    blas_threads: int | None = 1,
) -> np.ndarray:
    """Leave-one-out values: ``score(D) - score(D without i)`` on the target set.

    ``model_factory`` returns an unfitted sklearn-style classifier (default: logistic regression
    with ``warm_start=True``). One model object is refitted n times, so a warm-starting model
    begins each leave-one-out fit at the previous solution, which is close (fast, and equal to a
    cold fit up to the solver tolerance). ``metric``: ``"log_loss"`` (negative mean log-loss,
    default; accuracy changes by at most 1/n_target and is mostly 0) or ``"accuracy"``.
    """
    _check_metric(metric)
    xs, ys, xt, yt, k = _inputs(x_s, y_s, x_t, y_t)
    factory = model_factory or _default_factory(xs.shape[1], k)
    n = xs.shape[0]

    def score(model: Any, idx: np.ndarray) -> float:
        if np.unique(ys[idx]).size < 2:
            return _prior_score(ys[idx], yt, metric, k)
        model.fit(xs[idx], ys[idx])
        return _model_score(model, xt, yt, metric, k)

    model = factory()
    values = np.empty(n, dtype=np.float64)
    keep = np.ones(n, dtype=bool)
    with threadpool_limits(limits=blas_threads):
        full = score(model, np.arange(n))
        for i in range(n):
            keep[i] = False
            values[i] = full - score(model, np.flatnonzero(keep))
            keep[i] = True
    return values


# --------------------------------------------------------------------------- KNN-Shapley


def value_knn_shapley(
    x_s: np.ndarray,
    y_s: np.ndarray,
    x_t: np.ndarray,
    y_t: np.ndarray,
    k: int = 10,
    chunk_size: int = 256,
) -> np.ndarray:
    """Exact Shapley values of the unweighted KNN classification utility (Jia et al. 2019).

    For one target point with source points sorted by Euclidean distance, ``a_1`` nearest ...
    ``a_N`` farthest, and ``m_i = 1[y_{a_i} = y_target]`` (Theorem 1 of the paper):

        s_{a_N} = m_N / N
        s_{a_i} = s_{a_{i+1}} + (m_i - m_{i+1}) / K * min(K, i) / i

    The values are averaged over the target points. Vectorised over ``chunk_size`` target points at
    a time (memory ~ chunk_size * N * 8 bytes * a few).
    """
    xs, ys, xt, yt, _ = _inputs(x_s, y_s, x_t, y_t)
    if k < 1:
        raise ValueError(f"k={k}, expected >= 1")
    n = xs.shape[0]
    pos = np.arange(1, n, dtype=np.float64)  # i = 1 .. N-1
    coef = np.minimum(k, pos) / pos / k
    sq_s = np.einsum("ij,ij->i", xs, xs)
    total = np.zeros(n, dtype=np.float64)
    for start in range(0, xt.shape[0], chunk_size):
        xb, yb = xt[start : start + chunk_size], yt[start : start + chunk_size]
        d2 = np.einsum("ij,ij->i", xb, xb)[:, None] + sq_s[None, :] - 2.0 * xb @ xs.T
        order = np.argsort(d2, axis=1, kind="stable")
        match = (ys[order] == yb[:, None]).astype(np.float64)
        steps = (match[:, :-1] - match[:, 1:]) * coef  # term added going from a_{i+1} to a_i
        s_sorted = np.empty_like(match)
        s_sorted[:, -1] = match[:, -1] / n
        s_sorted[:, :-1] = s_sorted[:, -1:] + np.cumsum(steps[:, ::-1], axis=1)[:, ::-1]
        s = np.empty_like(s_sorted)
        np.put_along_axis(s, order, s_sorted, axis=1)
        total += s.sum(axis=0)
    return total / xt.shape[0]


# --------------------------------------------------------------------------- TMC-Shapley


def value_tmc_shapley(
    x_s: np.ndarray,
    y_s: np.ndarray,
    x_t: np.ndarray,
    y_t: np.ndarray,
    model_factory: ModelFactory | None = None,
    metric: Metric = "accuracy",
    n_permutations: int = 60,
    truncation_tol: float = 0.01,
    patience: int = 5,
    min_size: int = 5,
    seed: int = 0,
    blas_threads: int | None = 1,
) -> np.ndarray:
    """Truncated Monte Carlo Shapley values (Ghorbani & Zou 2019).

    For each of ``n_permutations`` random permutations, points are added one at a time and the
    model is refitted; a point's marginal contribution is the change of the target score. The
    first ``min_size`` points of a permutation form the starting coalition (scores of tinier sets
    are noise): their contribution is not measured in that permutation. A subset whose labels have
    a single class is scored by the fallback model (its Laplace-smoothed class frequencies), so
    such coalitions never need a classifier. Truncation: once the coalition's score is within
    ``truncation_tol * |score(D)|`` of the full-data score for ``patience`` consecutive additions,
    the remaining points of the permutation get contribution 0. A value is the mean contribution
    over the permutations in which it was measured (0 if never).

    With the default warm-starting logistic regression, one model object per permutation is
    refitted as the coalition grows, each fit starting at the previous solution.
    """
    _check_metric(metric)
    if n_permutations < 1 or min_size < 0 or patience < 1 or truncation_tol < 0:
        raise ValueError(
            f"n_permutations={n_permutations}, min_size={min_size}, patience={patience}, "
            f"truncation_tol={truncation_tol}: expected >= 1, >= 0, >= 1, >= 0"
        )
    xs, ys, xt, yt, k = _inputs(x_s, y_s, x_t, y_t)
    factory = model_factory or _default_factory(xs.shape[1], k)
    n = xs.shape[0]
    rng = np.random.default_rng(seed)

    def fit_score(model: Any, idx: np.ndarray) -> float:
        if np.unique(ys[idx]).size < 2:
            return _prior_score(ys[idx], yt, metric, k)
        model.fit(xs[idx], ys[idx])
        return _model_score(model, xt, yt, metric, k)

    with threadpool_limits(limits=blas_threads):
        full = fit_score(factory(), np.arange(n))
        tol = truncation_tol * abs(full)
        sums = np.zeros(n, dtype=np.float64)
        counts = np.zeros(n, dtype=np.int64)
        start = min(min_size, n)
        for _ in range(n_permutations):
            perm = rng.permutation(n)
            model = factory()
            classes_seen: frozenset[int] = frozenset()
            prev = fit_score(model, perm[:start])
            near = 0
            for j in range(start, n):
                if near >= patience:
                    counts[perm[j:]] += 1  # truncated: contribution 0
                    break
                idx = perm[: j + 1]
                classes = frozenset(np.unique(ys[idx]).tolist())
                if classes != classes_seen:
                    model = factory()  # class set changed: a warm start would have the wrong shape
                    classes_seen = classes
                cur = fit_score(model, idx)
                sums[perm[j]] += cur - prev
                counts[perm[j]] += 1
                prev = cur
                near = near + 1 if abs(full - cur) < tol else 0
    values = np.zeros(n, dtype=np.float64)
    seen = counts > 0
    values[seen] = sums[seen] / counts[seen]
    return values


# --------------------------------------------------------------------------- Data-OOB


def value_data_oob(
    x_s: np.ndarray,
    y_s: np.ndarray,
    n_estimators: int = 1000,
    seed: int = 0,
    max_features: str | float | None = "sqrt",
    max_depth: int | None = None,
    blas_threads: int | None = 1,
) -> np.ndarray:
    """Data-OOB values (Kwon & Zou 2023): per-sample out-of-bag accuracy of a bagged ensemble.

    ``n_estimators`` decision trees (random-forest style: ``max_features="sqrt"``) are each fitted
    on a bootstrap sample of the source set; a sample's value is the fraction of the trees for
    which it was out of bag that predict its (possibly corrupted) label correctly. No target set is
    needed. A sample that is never out of bag (probability ~0.37**n_estimators) gets the mean value.
    """
    xs = _flat(x_s, "x_s")
    ys = _labels(y_s, xs.shape[0], "y_s")
    if n_estimators < 1:
        raise ValueError(f"n_estimators={n_estimators}, expected >= 1")
    n = xs.shape[0]
    rng = np.random.default_rng(seed)
    correct = np.zeros(n, dtype=np.float64)
    oob_counts = np.zeros(n, dtype=np.int64)
    tree_seeds = rng.integers(0, 2**31 - 1, size=n_estimators)
    with threadpool_limits(limits=blas_threads):
        for b in range(n_estimators):
            boot = rng.integers(0, n, size=n)
            oob = np.ones(n, dtype=bool)
            oob[boot] = False
            if not oob.any():
                continue
            tree = DecisionTreeClassifier(
                max_features=max_features, max_depth=max_depth, random_state=int(tree_seeds[b])
            )
            tree.fit(xs[boot], ys[boot])
            correct[oob] += tree.predict(xs[oob]) == ys[oob]
            oob_counts[oob] += 1
    values = np.empty(n, dtype=np.float64)
    seen = oob_counts > 0
    values[seen] = correct[seen] / oob_counts[seen]
    values[~seen] = values[seen].mean() if seen.any() else 0.0
    return values


# --------------------------------------------------------------------------- DVRL


def _init_mlp(sizes: list[int], gen: torch.Generator) -> list[torch.Tensor]:
    """Parameters [W1, b1, W2, b2, ...] with PyTorch's default Linear init, from ``gen``."""
    params: list[torch.Tensor] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / math.sqrt(fan_in)
        w = (torch.rand(fan_in, fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        b = (torch.rand(fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        params += [w, b]
    return params


def _mlp(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n_layers - 1:
            h = torch.relu(h)
    return h


def _train_predictor(
    init: list[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    lr: float,
    weight_decay: float,
) -> list[torch.Tensor]:
    params = [p.detach().clone().requires_grad_(True) for p in init]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(_mlp(params, x), y)
            loss.backward()
            opt.step()
    return [p.detach() for p in params]


def _predictor_perf(
    params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, metric: Metric
) -> float:
    with torch.no_grad():
        logits = _mlp(params, x)
        if metric == "accuracy":
            return float((logits.argmax(dim=1) == y).double().mean())
        return float(-torch.nn.functional.cross_entropy(logits, y))


def value_dvrl(
    x_s: np.ndarray,
    y_s: np.ndarray,
    x_t: np.ndarray,
    y_t: np.ndarray,
    n_iterations: int = 1000,
    batch_size: int = 1000,
    seed: int = 0,
    *,
    hidden_dim: int = 100,
    n_layers: int = 5,
    combine_dim: int = 10,
    learning_rate: float = 0.01,
    predictor_hidden: int = 0,
    predictor_steps: int = 30,
    predictor_lr: float = 0.05,
    predictor_weight_decay: float = 0.0,
    metric: Metric = "log_loss",
    window: int = 20,
    threshold: float = 0.9,
    torch_threads: int | None = 1,
) -> np.ndarray:
    """DVRL values (Yoon, Arik & Pfister 2020): selection probabilities of a learned estimator.

    The value estimator h(x, y, |y - f_t(x)|) -> p in (0, 1) is an MLP on the features and one-hot
    label (``n_layers`` layers in all, ``hidden_dim`` wide, ReLU), whose ``combine_dim`` output is
    concatenated with the target-model signal |onehot(y) - f_t(x)|, where f_t is the predictor
    trained on the target set (the paper's "y_hat difference" input), then two more layers and a
    sigmoid. Each iteration draws ``batch_size`` source samples, samples a selection
    s_i ~ Bernoulli(p_i), trains the predictor from its fixed initialisation on the selected
    samples (``predictor_steps`` full-batch Adam steps; ``predictor_hidden=0`` = multinomial
    logistic regression), and rewards the estimator with the predictor's target performance minus
    a moving-average baseline (``window``, initialised with the predictor trained on all source
    data). REINFORCE loss: ``-reward * sum_i log P(s_i | p_i)`` plus the paper's penalty
    ``1e3 * (relu(mean p - threshold) + relu(1 - threshold - mean p))`` that keeps the selection
    rate in [1 - threshold, threshold]. Values are the final p for every source sample.

    ``metric`` is the reward: ``"log_loss"`` (negative target cross-entropy, default, smoother) or
    ``"accuracy"``. Runs on CPU in float64 with a seeded ``torch.Generator``; torch's global RNG is
    not used. ``torch_threads`` (default 1) sets torch's intra-op threads for the call and restores
    the previous setting afterwards (``None`` leaves it alone): the many tiny steps are fastest and
    most stable single-threaded. On ADULT (1000 source, 20 % flipped) 1000 iterations gave AUROC
    0.87 in ~30 s; 2000 iterations drifted down (0.80), hence the default.
    """
    arguments = dict(locals())
    with num_threads(torch_threads):
        return _dvrl(**arguments)


def _dvrl(
    x_s: np.ndarray,
    y_s: np.ndarray,
    x_t: np.ndarray,
    y_t: np.ndarray,
    n_iterations: int,
    batch_size: int,
    seed: int,
    *,
    hidden_dim: int,
    n_layers: int,
    combine_dim: int,
    learning_rate: float,
    predictor_hidden: int,
    predictor_steps: int,
    predictor_lr: float,
    predictor_weight_decay: float,
    metric: Metric,
    window: int,
    threshold: float,
    **_: Any,
) -> np.ndarray:
    _check_metric(metric)
    if n_iterations < 1 or batch_size < 1 or n_layers < 3 or window < 1:
        raise ValueError(
            f"n_iterations={n_iterations}, batch_size={batch_size}, n_layers={n_layers}, "
            f"window={window}: expected >= 1, >= 1, >= 3, >= 1"
        )
    xs_np, ys_np, xt_np, yt_np, k = _inputs(x_s, y_s, x_t, y_t)
    n, d = xs_np.shape
    batch = min(batch_size, n)
    gen = torch.Generator().manual_seed(int(seed))
    xs, xt = torch.from_numpy(xs_np), torch.from_numpy(xt_np)
    ys, yt = torch.from_numpy(ys_np), torch.from_numpy(yt_np)
    ys_hot = torch.nn.functional.one_hot(ys, k).double()

    pred_sizes = [d, predictor_hidden, k] if predictor_hidden > 0 else [d, k]
    pred_init = _init_mlp(pred_sizes, gen)
    steps_long = predictor_steps * 10

    # predictor trained on the target set -> per-sample signal |onehot(y) - f_t(x)|
    target_model = _train_predictor(
        pred_init, xt, yt, steps_long, predictor_lr, predictor_weight_decay
    )
    with torch.no_grad():
        signal = (ys_hot - torch.softmax(_mlp(target_model, xs), dim=1)).abs()

    # baseline initialised with the predictor trained on all source data
    full_model = _train_predictor(
        pred_init, xs, ys, predictor_steps, predictor_lr, predictor_weight_decay
    )
    baseline = _predictor_perf(full_model, xt, yt, metric)

    body = _init_mlp([d + k] + [hidden_dim] * (n_layers - 3) + [combine_dim], gen)
    head = _init_mlp([combine_dim + k, combine_dim, 1], gen)
    est_params = [p.requires_grad_(True) for p in body + head]
    n_body = len(body)
    opt = torch.optim.Adam(est_params, lr=learning_rate)

    def estimate(idx: torch.Tensor) -> torch.Tensor:
        inp = torch.cat([xs[idx], ys_hot[idx]], dim=1)
        z = torch.relu(_mlp(est_params[:n_body], inp))
        z = torch.cat([z, signal[idx]], dim=1)
        return torch.sigmoid(_mlp(est_params[n_body:], z)).squeeze(1)

    for it in range(n_iterations):
        idx = torch.randperm(n, generator=gen)[:batch]
        p = estimate(idx)
        with torch.no_grad():
            s = torch.bernoulli(p.detach(), generator=gen)
            sel = idx[s.bool()]
            y_sel = ys[sel]
            if sel.numel() == 0 or torch.unique(y_sel).numel() < 2:
                perf = _prior_score(y_sel.numpy(), yt_np, metric, k)
            else:
                model = _train_predictor(
                    pred_init, xs[sel], y_sel, predictor_steps, predictor_lr, predictor_weight_decay
                )
                perf = _predictor_perf(model, xt, yt, metric)
        reward = perf - baseline
        log_prob = (s * torch.log(p + 1e-8) + (1 - s) * torch.log(1 - p + 1e-8)).sum()
        mean_p = p.mean()
        penalty = torch.relu(mean_p - threshold) + torch.relu((1 - threshold) - mean_p)
        loss = -reward * log_prob + 1e3 * penalty
        opt.zero_grad()
        loss.backward()
        opt.step()
        baseline = (window - 1) / window * baseline + perf / window
        if (it + 1) % 200 == 0:
            logger.debug("dvrl iteration %d: perf %.4f baseline %.4f", it + 1, perf, baseline)

    with torch.no_grad():
        values = estimate(torch.arange(n)).numpy().astype(np.float64)
    return values
