"""Figures of the benchmark suite: detection scores per method, filter curves."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dvgs.evaluation.benchmark import (  # noqa: E402
    PAPER_RESULTS,
    PRIMARY_METRIC,
    compare_with_paper,
    read_results,
    summarise_benchmarks,
)
from dvgs.evaluation.plots import save_figure  # noqa: E402
from dvgs.evaluation.suite import METHODS  # noqa: E402
from dvgs.io.atomic import write_tsv  # noqa: E402

logger = logging.getLogger(__name__)

COLOURS = {
    "dvgs": "tab:blue",
    "random": "tab:gray",
    "loo": "tab:brown",
    "tmc_shapley": "tab:green",
    "dvrl": "tab:orange",
    "knn_shapley": "tab:purple",
    "data_oob": "tab:red",
}
LABELS = {"auroc": "AUROC(corrupted, -value)", "spearman": "Spearman(phi, -value)"}


def _panels(summary: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = summary[["dataset", "task"]].drop_duplicates()
    return [(str(d), str(t)) for d, t in pairs.itertuples(index=False)]


def _grid(n: int) -> tuple[plt.Figure, list[plt.Axes]]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 3.6 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def plot_benchmark_scores(summary: pd.DataFrame, path: str | Path) -> None:
    """One panel per dataset x task: mean +- sd of the task's primary metric per method, with the
    paper's DVGS number (and baselines where reported) as black ticks."""
    panels = _panels(summary)
    fig, axes = _grid(len(panels))
    for ax, (dataset, task) in zip(axes, panels, strict=True):
        metric = PRIMARY_METRIC[task]
        sub = summary[
            (summary["dataset"] == dataset)
            & (summary["task"] == task)
            & (summary["metric"] == metric)
        ]
        order = [m for m in METHODS if m in set(sub["method"])]
        sub = sub.set_index("method").loc[order]
        x = range(len(order))
        ax.bar(
            x,
            sub["mean"],
            yerr=sub["sd"].fillna(0.0),
            color=[COLOURS.get(m, "tab:cyan") for m in order],
            capsize=3,
        )
        for i, m in enumerate(order):
            paper = PAPER_RESULTS.get((dataset, task, m, metric))
            if paper is not None:
                label = "paper" if i == 0 or m == "dvgs" else None
                ax.plot([i - 0.4, i + 0.4], [paper[0]] * 2, color="black", lw=2, label=label)
        if metric == "auroc":
            ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        else:
            ax.axhline(0.0, color="grey", lw=0.8, ls=":")
        n = int(sub["n_repeats"].max()) if len(sub) else 0
        ax.set_xticks(list(x), order, rotation=35, ha="right")
        ax.set(title=f"{dataset} / {task} (n={n} repeats)", ylabel=LABELS[metric])
        if any(PAPER_RESULTS.get((dataset, task, m, metric)) for m in order):
            ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("Corruption detection by method (mean +- sd over repeats; black: paper)")
    fig.tight_layout()
    save_figure(fig, path)


def plot_benchmark_filter_curves(summary: pd.DataFrame, path: str | Path) -> None:
    """One panel per dataset x task: test score after removing the lowest- (solid) or highest-
    (dashed) valued fraction of the source set, per method (means over repeats)."""
    curves = summary[summary["metric"].str.startswith("filter_")].copy()
    parts = curves["metric"].str.extract(r"filter_(?P<remove>low|high)@(?P<fraction>[0-9.]+)")
    curves = pd.concat([curves, parts], axis=1)
    curves["fraction"] = curves["fraction"].astype(float)
    panels = _panels(curves)
    fig, axes = _grid(max(len(panels), 1))
    for ax, (dataset, task) in zip(axes, panels, strict=False):
        sub = curves[(curves["dataset"] == dataset) & (curves["task"] == task)]
        for method in [m for m in METHODS if m in set(sub["method"])]:
            for remove, style in (("low", "-"), ("high", "--")):
                c = sub[(sub["method"] == method) & (sub["remove"] == remove)]
                c = c.sort_values("fraction")
                ax.plot(
                    c["fraction"],
                    c["mean"],
                    style,
                    color=COLOURS.get(method, "tab:cyan"),
                    label=method if remove == "low" else None,
                )
        score = "test R^2 (PCA reconstruction)" if task == "unsupervised" else "test AUROC"
        ax.set(title=f"{dataset} / {task}", xlabel="fraction of source removed", ylabel=score)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Filter curves: solid = lowest values removed first, dashed = highest first")
    fig.tight_layout()
    save_figure(fig, path)


def write_benchmark_summary(inputs: Sequence[str | Path], outputs: Mapping[str, str]) -> None:
    """Everything rule summarise_benchmarks writes, from the per-repeat tables ``inputs``.

    ``outputs`` needs keys ``results`` (all repeats), ``summary``, ``comparison`` (beside the
    paper), ``scores`` and ``curves`` (figures).
    """
    results = read_results(inputs)
    summary = summarise_benchmarks(results)
    write_tsv(results, outputs["results"], float_format="%.9g")
    write_tsv(summary, outputs["summary"], float_format="%.6g")
    write_tsv(compare_with_paper(summary), outputs["comparison"], float_format="%.4g")
    plot_benchmark_scores(summary, outputs["scores"])
    plot_benchmark_filter_curves(summary, outputs["curves"])
