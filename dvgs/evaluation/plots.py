"""Figures for the report: readable at a glance (titles, labelled axes, legends)."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import pearsonr, spearmanr  # noqa: E402

from dvgs.io.atomic import atomic_path  # noqa: E402

logger = logging.getLogger(__name__)

METHOD_COLOURS = {
    "dvgs": "tab:blue",
    "apc": "tab:orange",
    "random": "tab:gray",
    "cc_q75": "tab:green",
}


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    """Write ``fig`` as PNG atomically (no timestamp metadata, so reruns give identical bytes)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def plot_distributions(table: pd.DataFrame, path: str | Path) -> None:
    """Histograms of APC (by status count) and of DVGS values."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    apc = table["apc"].dropna()
    axes[0].hist(apc, bins=40, color="tab:orange", edgecolor="white")
    counts = table["apc_status"].value_counts()
    status_text = "\n".join(f"{k}: {v}" for k, v in counts.items())
    axes[0].text(
        0.98,
        0.97,
        status_text,
        transform=axes[0].transAxes,
        ha="right",
        va="top",
        fontsize=8,
        bbox={"facecolor": "white", "alpha": 0.8},
    )
    axes[0].yaxis.get_major_locator().set_params(integer=True)  # counts: whole-number ticks
    axes[0].set(
        title=f"APC of level-4 replicates (n={apc.size})",
        xlabel="average pairwise Pearson correlation",
        ylabel="signatures",
    )
    values = table["dvgs_value"].dropna()
    axes[1].hist(values, bins=40, color="tab:blue", edgecolor="white")
    axes[1].set(
        title=f"DVGS value of source signatures (n={values.size})",
        xlabel="mean cosine similarity to target gradient",
        ylabel="signatures",
    )
    save_figure(fig, path)


def plot_value_vs_apc(table: pd.DataFrame, path: str | Path) -> None:
    """DVGS value against APC (scatter, hexbin above 5,000 points) with correlations."""
    both = table[["apc", "dvgs_value"]].dropna()
    fig, ax = plt.subplots(figsize=(6, 5))
    if len(both) > 5000:
        hb = ax.hexbin(both["apc"], both["dvgs_value"], gridsize=60, bins="log", cmap="viridis")
        fig.colorbar(hb, ax=ax, label="signatures (log)")
    else:
        ax.scatter(both["apc"], both["dvgs_value"], s=10, alpha=0.6)
    if len(both) >= 3:
        r = pearsonr(both["apc"], both["dvgs_value"]).statistic
        rho = spearmanr(both["apc"], both["dvgs_value"]).statistic
        label = f"Pearson r = {r:.3f}, Spearman rho = {rho:.3f} (n={len(both)})"
        if len(both) < 10:
            label += "\nfew source signatures have an APC: correlations are not informative"
    else:
        label = f"too few signatures with both scores (n={len(both)})"
    ax.set(
        title="DVGS value vs APC\n" + label,
        xlabel="APC (mean pairwise Pearson r)",
        ylabel="DVGS value (mean cosine similarity)",
    )
    save_figure(fig, path)


def plot_filter_curves(curves: pd.DataFrame, path: str | Path) -> None:
    """Test R^2 after removing a fraction of sources; mean line and min-max band over seeds."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    titles = {
        "low": "removing the LOWEST-scored sources",
        "high": "removing the HIGHEST-scored sources",
    }
    for ax, direction in zip(axes, ("low", "high"), strict=True):
        part = curves[curves["direction"] == direction]
        n_source = int(curves["n_train"].max())
        for method, group in part.groupby("method", sort=True):
            stats = group.groupby("fraction")["test_r2"].agg(["mean", "min", "max"])
            colour = METHOD_COLOURS.get(str(method))
            label = str(method)
            if "n_scored" in group and group["n_scored"].max() < n_source:
                label += f" ({int(group['n_scored'].max())}/{n_source} scored)"
            ax.plot(100 * stats.index, stats["mean"], marker="o", label=label, color=colour)
            ax.fill_between(100 * stats.index, stats["min"], stats["max"], alpha=0.2, color=colour)
        ax.set(
            title=titles[direction],
            xlabel="source signatures removed (%)",
            ylabel="test-set reconstruction R$^2$",
        )
        ax.grid(alpha=0.3)
        ax.legend(title="ranked by")
    n_seeds = curves["seed"].nunique()
    fig.suptitle(f"Filter curves (line: mean, band: min-max over {n_seeds} seeds)")
    save_figure(fig, path)


def plot_group_summary(summary: pd.DataFrame, by: str, path: str | Path, top: int = 30) -> None:
    """Median DVGS percentile and fraction flagged low for the largest groups."""
    part = summary.head(top).iloc[::-1]
    labels = [
        f"{name} (n={n}, valued {v})"
        for name, n, v in zip(
            part[by].astype(str), part["n_signatures"], part["n_valued"], strict=True
        )
    ]
    fig, axes = plt.subplots(1, 2, figsize=(13, max(3.0, 0.28 * len(part) + 1.5)), sharey=True)
    axes[0].barh(labels, part["median_dvgs_percentile"].fillna(0), color="tab:blue")
    axes[0].axvline(50, color="black", lw=0.8, ls="--", label="50th percentile")
    axes[0].set(
        xlabel="median DVGS percentile of its valued signatures",
        title=f"DVGS by {by} (largest {len(part)} by signature count)",
        xlim=(0, 100),
    )
    axes[0].legend(loc="lower right", fontsize=8)
    axes[1].barh(labels, part["fraction_flagged_low"].fillna(0), color="tab:red")
    axes[1].set(
        xlabel="fraction of valued signatures flagged low", title="flagged low", xlim=(0, 1)
    )
    for y, unvalued in enumerate(part["n_valued"].to_numpy() == 0):
        if unvalued:  # every signature of the group is in the target or test set
            for ax in axes:
                ax.text(0.01, y, "not valued (target/test set)", transform=ax.get_yaxis_transform(),
                        va="center", fontsize=8, color="0.4")  # fmt: skip
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)


def correlation_summary(table: pd.DataFrame) -> dict[str, float]:
    """Pearson and Spearman correlation of DVGS value with APC (NaN when undefined)."""
    both = table[["apc", "dvgs_value"]].dropna()
    if len(both) < 3:
        return {"n": float(len(both)), "pearson": float("nan"), "spearman": float("nan")}
    return {
        "n": float(len(both)),
        "pearson": float(pearsonr(both["apc"], both["dvgs_value"]).statistic),
        "spearman": float(spearmanr(both["apc"], both["dvgs_value"]).statistic),
    }


__all__ = [
    "correlation_summary",
    "plot_distributions",
    "plot_filter_curves",
    "plot_group_summary",
    "plot_value_vs_apc",
]


def plot_report_figures(inputs: dict[str, str], outputs: dict[str, str]) -> None:
    """All report figures from the quality table, filter curves and summaries."""
    read = dict(sep="\t", keep_default_na=False, na_values=[""])
    table = pd.read_csv(inputs["table"], dtype={"sig_id": str}, **read)
    plot_distributions(table, outputs["distributions"])
    plot_value_vs_apc(table, outputs["value_vs_apc"])
    plot_filter_curves(pd.read_csv(inputs["curves"], **read), outputs["filter_curves"])
    by_cell = pd.read_csv(inputs["by_cell"], dtype={"cell_iname": str}, **read)
    plot_group_summary(by_cell, "cell_iname", outputs["by_cell"])
    by_plate = pd.read_csv(inputs["by_plate"], dtype={"det_plate": str}, **read)
    plot_group_summary(by_plate, "det_plate", outputs["by_plate"])
