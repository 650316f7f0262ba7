"""Benchmark runner and summary: schema, seeding, bad input, and a tiny ADULT suite on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dvgs.evaluation.benchmark import (
    RESULT_COLUMNS,
    SUMMARY_COLUMNS,
    BenchmarkSettings,
    compare_with_paper,
    derive_seed,
    fit_benchmark_encoder,
    make_problem,
    read_results,
    run_benchmark,
    summarise_benchmarks,
)
from dvgs.evaluation.benchmark_plots import plot_benchmark_filter_curves, plot_benchmark_scores
from dvgs.models.encoder import ImageEncoder, load_encoder

ROOT = Path(__file__).resolve().parents[2] / "resources" / "benchmarks"

TINY = {
    "n_source": 500,
    "n_target": 200,
    "n_test": 1000,
    "filter_fractions": [0.0, 0.2],
    "dvgs": {"epochs": 60, "restarts": 2},
}


@pytest.fixture(scope="module")
def adult_tiny() -> pd.DataFrame:
    settings = BenchmarkSettings.from_dict(TINY)
    tables = [
        run_benchmark("adult", "label", method, 0, settings, ROOT / "adult")
        for method in ("dvgs", "random")
    ]
    return pd.concat(tables, ignore_index=True)


def _metric(table: pd.DataFrame, method: str, metric: str) -> float:
    row = table[(table["method"] == method) & (table["metric"] == metric)]
    assert len(row) == 1
    return float(row["value"].iloc[0])


def test_tiny_adult_suite_dvgs_beats_random(adult_tiny: pd.DataFrame) -> None:
    dvgs_auroc = _metric(adult_tiny, "dvgs", "auroc")
    random_auroc = _metric(adult_tiny, "random", "auroc")
    assert dvgs_auroc > 0.7, dvgs_auroc
    assert dvgs_auroc > random_auroc + 0.15, (dvgs_auroc, random_auroc)
    # removing the lowest-valued 20 % (mostly flipped labels) must not hurt much; removing the
    # highest-valued 20 % must hurt more
    low = _metric(adult_tiny, "dvgs", "filter_low@0.20")
    high = _metric(adult_tiny, "dvgs", "filter_high@0.20")
    assert low > high


def test_result_table_schema(adult_tiny: pd.DataFrame) -> None:
    assert list(adult_tiny.columns) == list(RESULT_COLUMNS)
    assert adult_tiny["value"].notna().all()
    assert adult_tiny["runtime_s"].gt(0).all()
    metrics = set(adult_tiny["metric"])
    assert {"auroc", "f1_kmeans", "valuation_s", "filter_low@0.00", "filter_high@0.20"} <= metrics
    assert (adult_tiny["n_source"] == 500).all() and (adult_tiny["n_target"] == 200).all()


def test_summary_schema_and_values(adult_tiny: pd.DataFrame, tmp_path: Path) -> None:
    # a second "repeat" with shifted values: mean / sd must be those of the two rows
    second = adult_tiny.assign(repeat=1, value=adult_tiny["value"] + 0.1)
    paths = []
    for i, t in enumerate((adult_tiny, second)):
        paths.append(tmp_path / f"repeat{i}.tsv")
        t.to_csv(paths[-1], sep="\t", index=False)
    results = read_results(paths)
    summary = summarise_benchmarks(results)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary[["mean", "sd", "n_repeats", "runtime_s_mean"]].notna().all().all()
    assert (summary["n_repeats"] == 2).all() and (summary["status"] == "ok").all()
    row = summary[(summary["method"] == "dvgs") & (summary["metric"] == "auroc")].iloc[0]
    a = _metric(adult_tiny, "dvgs", "auroc")
    assert row["mean"] == pytest.approx(a + 0.05)
    assert row["sd"] == pytest.approx(np.std([a, a + 0.1], ddof=1))
    comparison = compare_with_paper(summary)
    dv = comparison[comparison["method"] == "dvgs"].iloc[0]
    assert dv["paper_mean"] == pytest.approx(0.896)
    assert dv["pm_paper_style"] == pytest.approx(2 * np.std([a, a + 0.1]))
    plot_benchmark_scores(summary, tmp_path / "scores.png")
    plot_benchmark_filter_curves(summary, tmp_path / "curves.png")
    assert (tmp_path / "scores.png").stat().st_size > 0
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_single_repeat_summary_has_status(adult_tiny: pd.DataFrame) -> None:
    summary = summarise_benchmarks(adult_tiny)
    assert (summary["status"] == "single_repeat").all()
    assert summary["sd"].isna().all()
    assert summary["mean"].notna().all()


def test_duplicate_repeat_rejected(adult_tiny: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="same repeat twice"):
        summarise_benchmarks(pd.concat([adult_tiny, adult_tiny]))


def test_read_results_names_file_with_missing_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    pd.DataFrame({"dataset": ["adult"]}).to_csv(bad, sep="\t", index=False)
    with pytest.raises(ValueError, match="bad.tsv: columns"):
        read_results([bad])


def test_settings_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match=r"benchmarks.dvgs: unknown keys \['epoch'\]"):
        BenchmarkSettings.from_dict({**TINY, "dvgs": {"epoch": 3}})
    with pytest.raises(ValueError, match="unknown keys"):
        BenchmarkSettings.from_dict({**TINY, "sizes": 3})
    with pytest.raises(ValueError, match="corruption_fraction"):
        BenchmarkSettings.from_dict({**TINY, "corruption_fraction": 1.5})


@pytest.mark.parametrize(
    ("dataset", "task", "method", "match"),
    [
        ("mnist", "label", "dvgs", "dataset 'mnist' unknown"),
        ("adult", "labels", "dvgs", "task 'labels' unknown"),
        ("adult", "label", "shapley", "method 'shapley' unknown"),
        ("adult", "unsupervised", "dvgs", "cifar10 only"),
        ("cifar10", "unsupervised", "loo", "needs labels"),
    ],
)
def test_bad_names_rejected(dataset: str, task: str, method: str, match: str) -> None:
    settings = BenchmarkSettings.from_dict(TINY)
    with pytest.raises(ValueError, match=match):
        run_benchmark(dataset, task, method, 0, settings, ROOT / dataset)


def test_repeats_draw_their_own_split_and_corruption() -> None:
    settings = BenchmarkSettings.from_dict(TINY)
    p0 = make_problem("adult", "label", 0, settings, ROOT / "adult")
    p0b = make_problem("adult", "label", 0, settings, ROOT / "adult")
    p1 = make_problem("adult", "label", 1, settings, ROOT / "adult")
    np.testing.assert_array_equal(p0.truth, p0b.truth)
    np.testing.assert_array_equal(p0.x_source, p0b.x_source)
    assert not np.array_equal(p0.truth, p1.truth)
    assert not np.array_equal(p0.x_source, p1.x_source)
    assert p0.truth.sum() == 100  # 20 % of 500
    # the noise task of the same repeat shares the split (paired comparisons), not the corruption
    noise = make_problem("adult", "noise", 0, settings, ROOT / "adult")
    assert (noise.y_source != p0.y_source).sum() == 100
    np.testing.assert_array_equal(noise.y_source[~p0.truth], p0.y_source[~p0.truth])
    assert derive_seed(0, "adult", 1) != derive_seed(0, "blog", 1)


def test_cifar10_unsupervised_runs_on_raw_pixels() -> None:
    settings = BenchmarkSettings.from_dict({
        "n_source": 60, "n_target": 30, "n_test": 30, "noise_max_sd": 0.5,
        "filter_fractions": [0.0, 0.5], "filter_pca_components": 8,
        "dvgs": {"epochs": 4, "restarts": 1, "target_batch_size": 15, "every": 2},
    })  # fmt: skip
    table = run_benchmark("cifar10", "unsupervised", "dvgs", 0, settings, ROOT / "cifar10")
    assert table["value"].notna().all()
    assert "ConvAutoencoder" in table["encoder"].iloc[0]
    rho = _metric(table, "dvgs", "spearman")
    assert -1.0 <= rho <= 1.0
    assert _metric(table, "dvgs", "filter_low@0.50") <= 1.0


def test_cifar10_encoder_trained_on_target_and_pretrained_files(tmp_path: Path) -> None:
    settings = BenchmarkSettings.from_dict({
        "n_source": 40, "n_target": 40, "n_test": 40, "filter_fractions": [0.0],
        "encoder": {"epochs": 1, "embedding_dim": 8},
        "dvgs": {"epochs": 2, "restarts": 1},
    })  # fmt: skip
    path = tmp_path / "encoder.pt"
    info = fit_benchmark_encoder(0, settings, ROOT / "cifar10", path)
    assert 0.0 <= info["test_accuracy"].iloc[0] <= 1.0
    table = run_benchmark("cifar10", "label", "knn_shapley", 0, settings, ROOT / "cifar10", path)
    assert table["encoder"].iloc[0] == "ImageEncoder trained on the target set"
    assert table["value"].notna().all()
    # a TorchScript file given as benchmarks.encoder.path is used and named in the output
    scripted = tmp_path / "scripted.pt"
    torch.jit.script(ImageEncoder(embedding_dim=8)).save(str(scripted))
    pre = BenchmarkSettings.from_dict({
        **{k: v for k, v in settings.__dict__.items() if k in ("n_source", "n_target", "n_test")},
        "filter_fractions": [0.0], "encoder": {"path": str(scripted), "embedding_dim": 8},
    })  # fmt: skip
    table = run_benchmark("cifar10", "noise", "random", 0, pre, ROOT / "cifar10")
    assert table["encoder"].iloc[0] == "pretrained:scripted.pt"
    with pytest.raises(ValueError, match="does not fit ImageEncoder"):
        torch.save(ImageEncoder(embedding_dim=4).state_dict(), tmp_path / "wrong.pt")
        load_encoder(tmp_path / "wrong.pt", embedding_dim=8)
