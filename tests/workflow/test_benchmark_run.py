"""End-to-end: a tiny benchmark suite (ADULT label corruption, one repeat) through snakemake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workdir import copy_workflow

from dvgs.evaluation.benchmark import SUMMARY_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

TINY_BENCHMARKS = {
    "benchmarks": {
        "datasets": ["adult"],
        "methods": ["dvgs", "random", "knn_shapley"],
        "repeats": 1,
        "bundled_dir": str(ROOT / "resources" / "benchmarks"),
        "filter_fractions": [0.0, 0.2],
        "adult": {
            "n_source": 500,
            "n_target": 200,
            "n_test": 1000,
            "tasks": ["label"],
            "dvgs": {"label": {"epochs": 60, "restarts": 2}},
        },
    }
}


def test_tiny_benchmark_suite(tmp_path: Path) -> None:
    copy_workflow(tmp_path, example=False)
    (tmp_path / "config" / "bench_tiny.yaml").write_text(yaml.safe_dump(TINY_BENCHMARKS))
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
           "config/bench_tiny.yaml", "--", "benchmark_summary"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")

    out = tmp_path / "results" / "benchmarks"
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert set(summary["method"]) == {"dvgs", "random", "knn_shapley"}
    assert (summary["n_repeats"] == 1).all() and (summary["status"] == "single_repeat").all()
    assert np.isfinite(summary["mean"]).all() and np.isfinite(summary["runtime_s_mean"]).all()
    auroc = summary[summary["metric"] == "auroc"].set_index("method")["mean"]
    assert auroc["dvgs"] > 0.7 and auroc["dvgs"] > auroc["random"] + 0.15, auroc.to_dict()
    for name in ("paper_comparison.tsv", "all_repeats.tsv", "figures/scores.png",
                 "figures/filter_curves.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    for method in ("dvgs", "random", "knn_shapley"):
        assert (tmp_path / "logs/benchmarks/adult/label" / method / "repeat0.log").exists()
        assert (tmp_path / "benchmarks/benchmarks/adult/label" / method / "repeat0.tsv").exists()
