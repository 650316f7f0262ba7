"""End-to-end: the workflow on the tiny config over the bundled example release."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dvgs.io import gctx

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "lincs" / "example"
pytestmark = pytest.mark.workflow


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "envs", "profiles"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    shutil.copytree(EXAMPLE, dest / "resources" / "lincs" / "example")
    return dest


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/tiny.yaml"]
    proc = subprocess.run(cmd + list(args), cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("run1"))
    run_snakemake(workdir)
    return workdir


def quality_dir(workdir: Path) -> Path:
    return workdir / "results" / "quality" / "example" / "all"


def test_table_has_one_row_per_level5_signature(tiny_run: Path) -> None:
    table = pd.read_csv(quality_dir(tiny_run) / "signature_quality.tsv", sep="\t")
    level5 = next(EXAMPLE.glob("level5*.gctx"))
    assert len(table) == len(gctx.read_ids(level5, "col"))
    assert table["sig_id"].is_unique
    numeric = table.select_dtypes("number")
    assert not (numeric.to_numpy() <= -666).any(), "sentinel numbers in the table"
    source = table[table["split_set"] == "source"]
    assert np.isfinite(source["dvgs_value"]).all()
    assert (source["dvgs_n_seeds"] == 2).all()
    assert set(table["apc_status"]) <= {
        "ok",
        "single_replicate",
        "no_replicates_listed",
        "missing_replicates",
        "constant_or_nan_replicate",
    }
    assert table.loc[table["apc_status"] != "ok", "apc"].isna().all()
    parquet = pd.read_parquet(quality_dir(tiny_run) / "signature_quality.parquet")
    assert len(parquet) == len(table)


def test_figures_and_summaries_exist(tiny_run: Path) -> None:
    base = quality_dir(tiny_run)
    for name in ("distributions", "value_vs_apc", "filter_curves", "by_cell_iname", "by_det_plate"):
        assert (base / "figures" / f"{name}.png").stat().st_size > 10_000
    for by in ("cell_iname", "pert_id", "det_plate"):
        assert len(pd.read_csv(base / f"summary_by_{by}.tsv", sep="\t")) > 0


def test_rerun_is_byte_identical(tiny_run: Path, tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "run2")
    run_snakemake(workdir)
    for name in ("signature_quality.tsv", "summary_by_pert_id.tsv"):
        first = (quality_dir(tiny_run) / name).read_bytes()
        second = (quality_dir(workdir) / name).read_bytes()
        assert first == second, name
    curves = "results/filter_curves/example/all/filter_curves.tsv"
    assert (tiny_run / curves).read_bytes() == (workdir / curves).read_bytes()


def test_report_builds(tiny_run: Path) -> None:
    run_snakemake(tiny_run, "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert "filter_curves.png" in html
    assert "signature_quality.tsv" in html
