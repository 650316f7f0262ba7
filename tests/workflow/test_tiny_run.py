"""End-to-end: the workflow on the tiny config over the bundled example release."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workdir import copy_workflow

from dvgs.io import gctx

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "lincs" / "example"
pytestmark = pytest.mark.workflow


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


EXPECTED_COLUMNS = {
    "sig_id": "string",
    "release": "string",
    "pert_id": "string",
    "cmap_name": "string",
    "cell_iname": "string",
    "pert_idose": "string",
    "pert_itime": "string",
    "pert_type": "string",
    "det_plates": "string",
    "n_replicates_listed": "integer",
    "n_replicates_used": "integer",
    "apc": "floating",
    "apc_status": "string",
    "split_set": "string",
    "dvgs_value": "floating",
    "dvgs_sd": "floating",
    "dvgs_n_seeds": "integer",
    "dvgs_percentile": "floating",
    "dvgs_status": "string",
    "quality_flag": "string",
    "target_mode": "string",
    "nsample": "number",
    "cc_q75": "floating",
    "ss_ngene": "number",
    "tas": "floating",
    "pct_self_rank_q25": "floating",
    "is_hiq": "number",
    "qc_pass": "number",
}


def test_table_schema(tiny_run: Path) -> None:
    """Column names and order as documented in README, dtypes in the Parquet copy, TSV = Parquet."""
    parquet = pd.read_parquet(quality_dir(tiny_run) / "signature_quality.parquet")
    assert list(parquet.columns) == list(EXPECTED_COLUMNS)
    for column, kind in EXPECTED_COLUMNS.items():
        dtype = parquet[column].dtype
        ok = {
            "string": pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype),
            "integer": pd.api.types.is_integer_dtype(dtype),
            "floating": pd.api.types.is_float_dtype(dtype),
            "number": pd.api.types.is_numeric_dtype(dtype),
        }[kind]
        assert ok, f"{column}: dtype {dtype}, expected {kind}"
    readme = (ROOT / "README.md").read_text()
    for column in EXPECTED_COLUMNS:
        assert f"`{column}`" in readme, f"README does not document column {column}"
    tsv = pd.read_csv(
        quality_dir(tiny_run) / "signature_quality.tsv",
        sep="\t",
        dtype={c: str for c, k in EXPECTED_COLUMNS.items() if k == "string"},
        keep_default_na=False,
        na_values=[""],
    )
    pd.testing.assert_frame_equal(
        tsv.drop(columns=[c for c, k in EXPECTED_COLUMNS.items() if k == "string"]),
        parquet.drop(columns=[c for c, k in EXPECTED_COLUMNS.items() if k == "string"]),
        check_dtype=False,
        rtol=1e-6,
    )
    assert set(parquet["dvgs_status"]) <= {"valued", "in_target_set", "in_test_set"}
    assert set(parquet["quality_flag"].dropna()) <= {"low", "ok", "high"}
    assert parquet.loc[parquet["split_set"] != "source", "quality_flag"].isna().all()


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


def test_benchmark_keys_do_not_rerun_lincs_rules(tiny_run: Path) -> None:
    """After a complete run, changing only benchmark keys leaves nothing to do (no re-download)."""
    (tiny_run / "config" / "bench_changed.yaml").write_text(
        "benchmarks: {repeats: 7, seed: 3, adult: {n_source: 500}}\n"
    )
    # one --configfile flag: a second flag would replace config/tiny.yaml, not add to it
    proc = run_snakemake(tiny_run, "config/bench_changed.yaml", "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    (tiny_run / "config" / "epochs_changed.yaml").write_text("valuation: {epochs: 6}\n")
    proc = run_snakemake(tiny_run, "config/epochs_changed.yaml", "-n")
    out = proc.stdout + proc.stderr
    assert "value_signatures" in out and "download_release_file" not in out


def test_report_builds(tiny_run: Path) -> None:
    run_snakemake(tiny_run, "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert "filter_curves.png" in html
    assert "signature_quality.tsv" in html


def _resume_config(workdir: Path, epochs: int) -> str:
    import yaml

    cfg = yaml.safe_load((workdir / "config" / "tiny.yaml").read_text())
    cfg["valuation"]["epochs"] = epochs
    (workdir / "config" / "resume.yaml").write_text(yaml.safe_dump(cfg))
    return "config/resume.yaml"


def test_killed_valuation_resumes_to_same_values(tmp_path: Path) -> None:
    """SIGKILL the whole run mid-valuation, unlock, rerun: the shard equals an uninterrupted run."""
    import os
    import signal
    import time

    target = "results/valuation/example/all/seed0/shard0.tsv"
    checkpoint = "results/valuation/example/all/seed0/shard0.ckpt"
    base = [sys.executable, "-m", "snakemake", "--cores", "1"]

    def run(workdir: Path, *args: str) -> None:
        proc = subprocess.run(base + list(args), cwd=workdir, capture_output=True, text=True)
        assert proc.returncode == 0, f"snakemake {args} failed:\n{proc.stderr[-4000:]}"

    clean = copy_workflow(tmp_path / "clean")
    cfg = _resume_config(clean, epochs=400)
    run(clean, target, "--configfile", cfg)

    killed = copy_workflow(tmp_path / "killed")
    _resume_config(killed, epochs=400)
    proc = subprocess.Popen(
        base + [target, "--configfile", cfg],
        cwd=killed,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (killed / checkpoint).exists():
        assert proc.poll() is None, "the run finished before a checkpoint was written"
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.02)
    time.sleep(0.5)  # a few more epochs
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / target).exists()

    run(killed, "--unlock", "--configfile", cfg)
    run(killed, target, "--configfile", cfg)
    log = (killed / "logs/valuation/example/all/seed0/shard0.log").read_text()
    assert "resuming from" in log
    assert (killed / target).read_bytes() == (clean / target).read_bytes()
    assert not (killed / checkpoint).exists(), "the checkpoint of a finished shard is removed"
