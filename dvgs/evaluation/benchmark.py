"""Benchmarks of data valuation on ADULT, BLOG and CIFAR10 (the DVGS paper's validation).

One call of :func:`run_benchmark` is one *repeat* of one ``(dataset, task, method)``: it draws the
repeat's own seeded source / target / test split (:func:`~dvgs.datasets.make_benchmark_split`),
corrupts the source set, values it, computes the detection metrics and the filter curves, and
returns a long table with one row per metric. :func:`summarise_benchmarks` turns the per-repeat
tables into ``mean`` / ``sd`` over repeats.

Tasks.

* ``label``: ``corruption_fraction`` of the source labels are flipped; metrics ``auroc`` (AUROC of
  ``-value`` for the flipped rows) and ``f1_kmeans`` (2-means clustering F1, OpenDataVal).
* ``noise``: every source row gets Gaussian noise with its own sd ``phi_i ~ U(0, noise_max_sd)``
  (tabular: after min-max scaling; CIFAR10: on the pixels, before embedding); metric ``spearman``
  = Spearman(phi, -value).
* ``unsupervised`` (CIFAR10 only): the same pixel noise, valued by DVGS with a convolutional
  autoencoder on raw pixels (``y = x``); metric ``spearman``.

Filter curves. For each fraction ``f`` the lowest- (``filter_low@f``) or highest-valued
(``filter_high@f``) rows are removed and a model is refitted on the rest of the (corrupted) source
set: logistic regression scored by test AUROC (macro one-vs-rest for CIFAR10) for the supervised
tasks; a PCA reconstruction (a linear autoencoder) scored by test R^2 for ``unsupervised``.
``runtime_s`` is the wall time of valuation plus filter curves (data loading excluded).

CIFAR10 supervised tasks value image embeddings. The encoder is ``encoder.path`` when given
(TorchScript or an :class:`~dvgs.models.encoder.ImageEncoder` state dict); otherwise an
:class:`~dvgs.models.encoder.ImageEncoder` is trained on the clean target set only. The output's
``encoder`` column names the one used.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from dvgs.datasets import DATASETS, BenchmarkData, load_dataset, make_benchmark_split
from dvgs.evaluation.corruption import add_feature_noise, corrupt_labels
from dvgs.evaluation.metrics import corruption_auroc, filter_curve, kmeans_f1, noise_spearman
from dvgs.evaluation.suite import METHODS, TASKS, UNSUPERVISED_METHODS
from dvgs.io.atomic import atomic_path
from dvgs.models.autoencoder import ConvAutoencoder
from dvgs.models.encoder import embed, load_encoder, train_encoder
from dvgs.models.mlp import MLPClassifier
from dvgs.threads import num_threads
from dvgs.valuation import baselines
from dvgs.valuation.dvgs import DVGSSettings, value_sources
from dvgs.valuation.engine import cross_entropy_per_sample, mse_loss_per_sample

logger = logging.getLogger(__name__)

Task = Literal["label", "noise", "unsupervised"]
RESULT_COLUMNS: tuple[str, ...] = (
    "dataset",
    "task",
    "method",
    "repeat",
    "metric",
    "value",
    "runtime_s",
    "encoder",
    "n_source",
    "n_target",
    "n_test",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "dataset",
    "task",
    "method",
    "metric",
    "mean",
    "sd",
    "n_repeats",
    "runtime_s_mean",
    "encoder",
    "status",
)
TRAINED_ENCODER = "ImageEncoder trained on the target set"
PRIMARY_METRIC = {"label": "auroc", "noise": "spearman", "unsupervised": "spearman"}

# Numbers reported by the DVGS paper (mean and its "±", which is twice the population sd), for
# the side-by-side table. Runtimes in minutes, as reported (DVGS on a GPU).
PAPER_RESULTS: dict[tuple[str, str, str, str], tuple[float, float | None]] = {
    ("adult", "label", "dvgs", "auroc"): (0.896, 0.030),
    ("adult", "label", "dvrl", "auroc"): (0.887, None),
    ("adult", "label", "tmc_shapley", "auroc"): (0.731, None),
    ("adult", "label", "loo", "auroc"): (0.542, None),
    ("adult", "label", "random", "auroc"): (0.503, None),
    ("blog", "label", "dvgs", "auroc"): (0.750, 0.028),
    ("blog", "label", "dvrl", "auroc"): (0.697, None),
    ("blog", "label", "tmc_shapley", "auroc"): (0.671, None),
    ("blog", "label", "loo", "auroc"): (0.558, None),
    ("cifar10", "label", "dvgs", "auroc"): (0.954, 0.009),
    ("cifar10", "label", "dvrl", "auroc"): (0.835, None),
    ("adult", "noise", "dvgs", "spearman"): (0.225, None),
    ("blog", "noise", "dvgs", "spearman"): (0.106, None),
    ("cifar10", "noise", "dvgs", "spearman"): (0.402, None),
    ("cifar10", "unsupervised", "dvgs", "spearman"): (0.757, None),
}
PAPER_RUNTIME_MIN: dict[str, str] = {
    "dvgs": "1.3 (GPU)",
    "tmc_shapley": "515-775",
    "dvrl": "~10",
    "loo": "~34",
}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class DVGSTaskSettings:
    """DVGS settings of one ``(dataset, task)``: training (see :class:`DVGSSettings`) and model.

    ``hidden`` / ``dropout``: the MLP classifier (supervised tasks); ``ae_width`` / ``ae_latent``:
    the convolutional autoencoder (unsupervised).
    """

    epochs: int = 100
    lr: float = 1e-3
    restarts: int = 3
    target_batch_size: int = 500
    source_batch_size: int = 5000
    every: int = 1
    source_mode: Literal["train", "eval"] = "eval"
    class_balanced: bool = False
    hidden: int = 100
    dropout: float = 0.5
    ae_width: int = 16
    ae_latent: int = 32


@dataclass(frozen=True)
class BaselineSettings:
    """Budget knobs of the baselines (:mod:`dvgs.valuation.baselines`)."""

    tmc_permutations: int = 10
    tmc_truncation_tol: float = 0.01
    tmc_patience: int = 5
    dvrl_iterations: int = 1000
    dvrl_batch_size: int = 1000
    knn_k: int = 10
    oob_estimators: int = 500
    loo_metric: Literal["accuracy", "log_loss"] = "log_loss"


@dataclass(frozen=True)
class EncoderSettings:
    """CIFAR10 image encoder: ``path`` of a pretrained model file, else one trained on the target
    set (``epochs``, ``lr``, ``embedding_dim``)."""

    path: str | None = None
    epochs: int = 30
    lr: float = 2e-3
    embedding_dim: int = 64


@dataclass(frozen=True)
class BenchmarkSettings:
    """Everything one benchmark repeat needs (the ``benchmarks`` config block, resolved for one
    ``(dataset, task)``)."""

    n_source: int
    n_target: int
    n_test: int | None
    corruption_fraction: float = 0.2
    noise_max_sd: float = 3.0
    seed: int = 0
    dvgs: DVGSTaskSettings = field(default_factory=DVGSTaskSettings)
    baselines: BaselineSettings = field(default_factory=BaselineSettings)
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    filter_fractions: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    filter_pca_components: int = 32
    threads: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.n_source < 1 or self.n_target < 1 or (self.n_test is not None and self.n_test < 1):
            raise ValueError(
                f"benchmarks: n_source={self.n_source}, n_target={self.n_target}, n_test="
                f"{self.n_test}: expected positive sizes"
            )
        if not 0.0 < self.corruption_fraction < 1.0:
            raise ValueError(
                f"benchmarks.corruption_fraction={self.corruption_fraction}, expected in (0, 1)"
            )
        if self.noise_max_sd <= 0:
            raise ValueError(f"benchmarks.noise_max_sd={self.noise_max_sd}, expected > 0")
        bad = [f for f in self.filter_fractions if not 0.0 <= f < 1.0]
        if bad:
            raise ValueError(f"benchmarks.filter_fractions {bad} outside [0, 1)")
        object.__setattr__(self, "filter_fractions", tuple(float(f) for f in self.filter_fractions))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BenchmarkSettings:
        """Build from plain dicts (rule params); unknown keys raise ``ValueError`` naming them."""
        nested = {"dvgs": DVGSTaskSettings, "baselines": BaselineSettings}
        nested["encoder"] = EncoderSettings
        kwargs: dict[str, Any] = {}
        _check_keys(d, cls, "benchmarks")
        for key, value in d.items():
            if key in nested:
                _check_keys(value, nested[key], f"benchmarks.{key}")
                kwargs[key] = nested[key](**value)
            elif key == "filter_fractions":
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)


def _check_keys(d: Mapping[str, Any], cls: type, where: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}, expected some of {sorted(known)}")


def derive_seed(*parts: int | str) -> int:
    """A 31-bit seed derived from ``parts`` (names are hashed stably by their bytes)."""
    ints = [
        int(p) if isinstance(p, int) else int.from_bytes(p.encode(), "little") % 2**32
        for p in parts
    ]
    return int(np.random.SeedSequence(ints).generate_state(1)[0] >> 1)


# --------------------------------------------------------------------------- data


@dataclass
class Problem:
    """A corrupted benchmark problem: features ready for valuation (float32)."""

    x_source: np.ndarray
    y_source: np.ndarray
    x_target: np.ndarray
    y_target: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    truth: np.ndarray  # label: corrupted mask; noise / unsupervised: phi
    encoder: str


def _minmax(xs: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    lo = xs.min(axis=0)
    span = xs.max(axis=0) - lo
    span = np.where(span > 0, span, 1.0)
    return [((a - lo) / span).astype(np.float32) for a in (xs, *others)]


def _embed_images(
    split: BenchmarkData,
    x_source: np.ndarray,
    settings: BenchmarkSettings,
    seed: int,
    encoder_path: str | os.PathLike | None,
) -> tuple[list[np.ndarray], str]:
    enc = settings.encoder
    if encoder_path is not None:  # written by fit_benchmark_encoder for this repeat
        model = load_encoder(encoder_path, enc.embedding_dim)
        name = TRAINED_ENCODER
    elif enc.path:
        model = load_encoder(enc.path, enc.embedding_dim)
        name = f"pretrained:{Path(enc.path).name}"
    else:
        model = train_encoder(
            split.x_target, split.y_target, seed=seed, epochs=enc.epochs, lr=enc.lr,
            embedding_dim=enc.embedding_dim, n_classes=split.n_classes,
        )  # fmt: skip
        name = TRAINED_ENCODER
    feats = [embed(model, a) for a in (x_source, split.x_target, split.x_test)]
    return _minmax(*feats), name


def _split(dataset: str, repeat: int, settings: BenchmarkSettings, data_dir: str | os.PathLike
           ) -> BenchmarkData:  # fmt: skip
    raw = load_dataset(dataset, data_dir)
    return make_benchmark_split(
        raw, settings.n_source, settings.n_target, settings.n_test,
        seed=derive_seed(settings.seed, dataset, repeat),
    )  # fmt: skip


def fit_benchmark_encoder(
    repeat: int, settings: BenchmarkSettings, data_dir: str | os.PathLike, path: str | os.PathLike
) -> pd.DataFrame:
    """Train the CIFAR10 :class:`~dvgs.models.encoder.ImageEncoder` on the clean target set of
    ``repeat`` (the only images it sees), save its state dict at ``path`` and return a one-row
    table with its accuracy on the repeat's test set (the encoder's own classification head)."""
    split = _split("cifar10", repeat, settings, data_dir)
    enc = settings.encoder
    with num_threads(settings.threads, blas=True):
        start = time.perf_counter()
        model = train_encoder(
            split.x_target, split.y_target, seed=derive_seed(settings.seed, "encoder", repeat),
            epochs=enc.epochs, lr=enc.lr, embedding_dim=enc.embedding_dim,
            n_classes=split.n_classes,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        with torch.no_grad():
            logits = model.head(torch.as_tensor(embed(model, split.x_test)))
    accuracy = float((logits.argmax(1).numpy() == split.y_test).mean())
    logger.info("encoder repeat %d: test accuracy %.3f (%.1f s)", repeat, accuracy, seconds)
    with atomic_path(path) as tmp:
        torch.save(model.state_dict(), tmp)
    return pd.DataFrame([{
        "dataset": "cifar10", "repeat": repeat, "encoder": TRAINED_ENCODER,
        "n_train": split.x_target.shape[0], "test_accuracy": accuracy, "train_s": seconds,
    }])  # fmt: skip


def make_problem(
    dataset: str,
    task: str,
    repeat: int,
    settings: BenchmarkSettings,
    data_dir: str | os.PathLike,
    encoder_path: str | os.PathLike | None = None,
) -> Problem:
    """The corrupted source / target / test sets of one repeat (split and corruption seeded by
    ``(seed, dataset, repeat)`` and ``(seed, dataset, task, repeat)``). CIFAR10 supervised tasks:
    ``encoder_path`` is this repeat's encoder from :func:`fit_benchmark_encoder` (else
    ``settings.encoder.path``, else one is trained here)."""
    split = _split(dataset, repeat, settings, data_dir)
    seed = derive_seed(settings.seed, dataset, task, repeat)
    xs, ys = split.x_source, split.y_source
    if task == "label":
        ys, truth = corrupt_labels(ys, settings.corruption_fraction, split.n_classes, seed=seed)
    else:
        xs, truth = add_feature_noise(xs, settings.noise_max_sd, seed=seed)
    encoder = "none"
    xt, xe = split.x_target, split.x_test
    if dataset == "cifar10" and task != "unsupervised":
        (xs, xt, xe), encoder = _embed_images(
            split, xs, settings, derive_seed(settings.seed, "encoder", repeat), encoder_path
        )
    elif dataset == "cifar10":
        encoder = "none (raw pixels, ConvAutoencoder)"
    return Problem(xs, ys, xt, split.y_target, xe, split.y_test, split.n_classes, truth, encoder)


# --------------------------------------------------------------------------- valuation


def _value_dvgs(problem: Problem, task: str, s: BenchmarkSettings, seed: int) -> np.ndarray:
    d = s.dvgs
    dvgs_settings = DVGSSettings(
        epochs=d.epochs, target_batch_size=d.target_batch_size,
        source_batch_size=d.source_batch_size, lr=d.lr, every=d.every, restarts=d.restarts,
        source_mode=d.source_mode, device=s.device, threads=s.threads,
        class_balanced=d.class_balanced and task != "unsupervised",
    )  # fmt: skip
    if task == "unsupervised":
        channels = problem.x_source.shape[1]

        def factory() -> torch.nn.Module:
            return ConvAutoencoder(channels, width=d.ae_width, latent=d.ae_latent)

        result = value_sources(
            factory, mse_loss_per_sample, problem.x_target, None, problem.x_source, None,
            dvgs_settings, seed=seed,
        )  # fmt: skip
    else:
        n_features = problem.x_source.shape[1]

        def factory() -> torch.nn.Module:
            return MLPClassifier(n_features, problem.n_classes, d.hidden, dropout=d.dropout)

        result = value_sources(
            factory, cross_entropy_per_sample, problem.x_target, problem.y_target,
            problem.x_source, problem.y_source, dvgs_settings, seed=seed,
        )  # fmt: skip
    return result.mean


def value_problem(problem: Problem, task: str, method: str, settings: BenchmarkSettings,
                  seed: int) -> np.ndarray:  # fmt: skip
    """Values of the source rows of ``problem`` by ``method`` (higher = more valuable)."""
    if task == "unsupervised" and method not in UNSUPERVISED_METHODS:
        raise ValueError(
            f"method {method!r} needs labels; task 'unsupervised' supports {UNSUPERVISED_METHODS}"
        )
    b = settings.baselines
    p = problem
    if method == "dvgs":
        return _value_dvgs(p, task, settings, seed)
    if method == "random":
        return baselines.value_random(p.x_source.shape[0], seed)
    if method == "loo":
        return baselines.value_loo(p.x_source, p.y_source, p.x_target, p.y_target,
                                   metric=b.loo_metric)  # fmt: skip
    if method == "tmc_shapley":
        return baselines.value_tmc_shapley(
            p.x_source, p.y_source, p.x_target, p.y_target, n_permutations=b.tmc_permutations,
            truncation_tol=b.tmc_truncation_tol, patience=b.tmc_patience, seed=seed,
        )  # fmt: skip
    if method == "dvrl":
        return baselines.value_dvrl(
            p.x_source, p.y_source, p.x_target, p.y_target, n_iterations=b.dvrl_iterations,
            batch_size=b.dvrl_batch_size, seed=seed, torch_threads=settings.threads,
        )  # fmt: skip
    if method == "knn_shapley":
        return baselines.value_knn_shapley(p.x_source, p.y_source, p.x_target, p.y_target,
                                           k=b.knn_k)  # fmt: skip
    if method == "data_oob":
        return baselines.value_data_oob(p.x_source, p.y_source, n_estimators=b.oob_estimators,
                                        seed=seed)  # fmt: skip
    raise ValueError(f"method {method!r} unknown, expected one of {METHODS}")


# --------------------------------------------------------------------------- filter curves


def _classifier_auroc(
    x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, n_classes: int
) -> float:
    present = np.unique(y)
    if present.size < 2:
        return 0.5  # a constant predictor
    model = LogisticRegression(max_iter=1000)
    model.fit(x, y)
    proba = np.zeros((x_test.shape[0], n_classes))
    proba[:, model.classes_] = model.predict_proba(x_test)
    if n_classes == 2:
        return float(roc_auc_score(y_test, proba[:, 1]))
    # macro one-vs-rest over the classes the test set holds (a class absent from it has no AUROC)
    scores = [
        roc_auc_score(y_test == c, proba[:, c])
        for c in range(n_classes)
        if 0 < np.sum(y_test == c) < y_test.shape[0]
    ]
    return float(np.mean(scores))


def _pca_r2(x: np.ndarray, x_test: np.ndarray, n_components: int) -> float:
    xf, tf = x.reshape(x.shape[0], -1), x_test.reshape(x_test.shape[0], -1)
    k = min(n_components, xf.shape[0], xf.shape[1])
    pca = PCA(n_components=k, svd_solver="randomized", random_state=0).fit(xf)
    recon = pca.inverse_transform(pca.transform(tf))
    sst = ((tf - tf.mean(axis=0)) ** 2).sum()
    return float(1.0 - ((recon - tf) ** 2).sum() / sst)


def filter_curves(
    problem: Problem, values: np.ndarray, task: str, settings: BenchmarkSettings
) -> pd.DataFrame:
    """Filter curves (remove lowest / highest fraction, refit, score on test): columns ``remove``,
    ``fraction``, ``n_removed``, ``score``."""
    p = problem

    def fit_and_score(keep: np.ndarray) -> float:
        if task == "unsupervised":
            return _pca_r2(p.x_source[keep], p.x_test, settings.filter_pca_components)
        return _classifier_auroc(p.x_source[keep], p.y_source[keep], p.x_test, p.y_test,
                                 p.n_classes)  # fmt: skip

    parts = []
    for remove in ("low", "high"):
        curve = filter_curve(values, fit_and_score, settings.filter_fractions, remove=remove)
        parts.append(curve.assign(remove=remove))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- one repeat


def run_benchmark(
    dataset: str,
    task: str,
    method: str,
    repeat: int,
    settings: BenchmarkSettings,
    data_dir: str | os.PathLike,
    encoder_path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Run one repeat and return its long result table (columns :data:`RESULT_COLUMNS`).

    ``data_dir`` holds the dataset's files (bundled copy or download); ``encoder_path``: see
    :func:`make_problem`."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset {dataset!r} unknown, expected one of {DATASETS}")
    if task not in TASKS:
        raise ValueError(f"task {task!r} unknown, expected one of {TASKS}")
    if task == "unsupervised" and dataset != "cifar10":
        raise ValueError(f"task 'unsupervised' is defined for cifar10 only, not {dataset!r}")
    if method not in METHODS:
        raise ValueError(f"method {method!r} unknown, expected one of {METHODS}")
    if task == "unsupervised" and method not in UNSUPERVISED_METHODS:
        raise ValueError(
            f"method {method!r} needs labels; task 'unsupervised' supports {UNSUPERVISED_METHODS}"
        )
    if repeat < 0:
        raise ValueError(f"repeat={repeat}, expected >= 0")
    with num_threads(settings.threads, blas=True):
        problem = make_problem(dataset, task, repeat, settings, data_dir, encoder_path)
        seed = derive_seed(settings.seed, dataset, task, method, repeat)
        logger.info("%s/%s/%s repeat %d: n_source=%d, features %s, encoder %s", dataset, task,
                    method, repeat, problem.x_source.shape[0], problem.x_source.shape[1:],
                    problem.encoder)  # fmt: skip
        start = time.perf_counter()
        values = np.asarray(value_problem(problem, task, method, settings, seed), np.float64)
        valuation_s = time.perf_counter() - start
        curves = filter_curves(problem, values, task, settings)
        runtime_s = time.perf_counter() - start
    logger.info("valuation %.1f s, with filter curves %.1f s", valuation_s, runtime_s)
    metrics: dict[str, float] = {}
    if task == "label":
        metrics["auroc"] = corruption_auroc(problem.truth, values)
        metrics["f1_kmeans"] = kmeans_f1(problem.truth, values, seed=seed)
    else:
        metrics["spearman"] = noise_spearman(problem.truth, values)
    metrics["valuation_s"] = valuation_s
    for row in curves.itertuples(index=False):
        metrics[f"filter_{row.remove}@{row.fraction:.2f}"] = row.score
    logger.info("metrics: %s", {k: round(v, 4) for k, v in metrics.items() if "@" not in k})
    n_test = problem.x_test.shape[0]
    rows = [
        (dataset, task, method, int(repeat), name, float(value), runtime_s, problem.encoder,
         problem.x_source.shape[0], problem.x_target.shape[0], n_test)
        for name, value in metrics.items()
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


# --------------------------------------------------------------------------- summaries


def read_results(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-repeat tables, checking their columns."""
    tables = []
    for path in paths:
        t = pd.read_csv(path, sep="\t")
        missing = [c for c in RESULT_COLUMNS if c not in t.columns]
        if missing:
            raise ValueError(f"{path}: columns {missing} missing, expected {list(RESULT_COLUMNS)}")
        tables.append(t)
    if not tables:
        raise ValueError("no benchmark result tables given")
    return pd.concat(tables, ignore_index=True)


def summarise_benchmarks(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample sd (ddof=1) of every metric over repeats, per dataset / task / method.

    ``sd`` is NaN with status ``single_repeat`` when there is one repeat (``status`` is ``ok``
    otherwise); ``runtime_s_mean`` is the mean runtime of a repeat (valuation + filter curves).
    """
    keys = ["dataset", "task", "method", "metric"]
    dup = results.duplicated(keys + ["repeat"])
    if dup.any():
        first = results.loc[dup, keys + ["repeat"]].iloc[0].to_dict()
        raise ValueError(f"benchmark results hold the same repeat twice: {first}")
    g = results.groupby(keys, sort=True)
    out = g.agg(
        mean=("value", "mean"),
        sd=("value", "std"),
        n_repeats=("repeat", "nunique"),
        runtime_s_mean=("runtime_s", "mean"),
        encoder=("encoder", lambda s: "; ".join(sorted(set(map(str, s))))),
    ).reset_index()
    out["status"] = np.where(out["n_repeats"] > 1, "ok", "single_repeat")
    return out[list(SUMMARY_COLUMNS)]


def compare_with_paper(summary: pd.DataFrame) -> pd.DataFrame:
    """Side-by-side table of the primary metrics and the paper's numbers.

    ``pm_paper_style`` is twice the population sd, the convention of the paper's "±".
    """
    rows = []
    prim = summary[summary["metric"] == summary["task"].map(PRIMARY_METRIC)]
    for r in prim.itertuples(index=False):
        paper = PAPER_RESULTS.get((r.dataset, r.task, r.method, r.metric))
        n = int(r.n_repeats)
        pop_sd = r.sd * np.sqrt((n - 1) / n) if n > 1 else np.nan
        rows.append({
            "dataset": r.dataset, "task": r.task, "method": r.method, "metric": r.metric,
            "mean": r.mean, "sd": r.sd, "pm_paper_style": 2 * pop_sd, "n_repeats": n,
            "runtime_s_mean": r.runtime_s_mean,
            "paper_mean": paper[0] if paper else np.nan,
            "paper_pm": paper[1] if paper and paper[1] is not None else np.nan,
            "paper_runtime_min": PAPER_RUNTIME_MIN.get(r.method, "")
            if r.dataset in ("adult", "blog") else "",
            "encoder": r.encoder,
        })  # fmt: skip
    return pd.DataFrame(rows)
