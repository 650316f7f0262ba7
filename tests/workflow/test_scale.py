"""Scale of the workflow: the DAG does not grow with the number of signatures.

``snakemake -n`` on the full LINCS2020 config (config/lincs2020.yaml) with the release staged in
a temporary downloads folder: a 720,216-row signature table in the ``siginfo_beta.txt`` layout
(the size of the real trt_cp level-5 file) and small but valid GCTX files at the level-4 /
level-5 paths (snakemake plans from paths, it never reads them). The same dry run over a
1,000-row table must plan exactly the same jobs, and the full-size dry run must finish in < 30 s.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workdir import copy_workflow

from dvgs.io import gctx
from dvgs.io.releases import RELEASES

ROOT = Path(__file__).resolve().parents[2]
FULL_SIGNATURES = 720_216
pytestmark = pytest.mark.workflow


def siginfo_like(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows with the siginfo_beta columns the adapters need, built vectorised."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    brew = np.char.add("SIM", (k // 384).astype(str))
    well = (k % 384).astype(str)
    n_rep = rng.choice([1, 2, 3, 4], size=n, p=[0.08, 0.22, 0.6, 0.1])
    reps = [np.char.add(np.char.add(brew, f"_X{r}_B1:"), well) for r in range(1, 5)]
    distil = reps[0].astype(object)
    for r in range(1, 4):
        distil = np.where(n_rep > r, distil + "|" + reps[r].astype(object), distil)
    pert = np.char.add("BRD-S", rng.integers(0, 33_000, size=n).astype(str))
    return pd.DataFrame(
        {
            "sig_id": np.char.add(
                np.char.add(brew, ":"), np.char.add(pert, np.char.add(":", well))
            ),
            "pert_id": pert,
            "cmap_name": pert,
            "cell_iname": np.char.add("CELL", rng.integers(0, 230, size=n).astype(str)),
            "pert_idose": "10 uM",
            "pert_itime": "24 h",
            "pert_type": "trt_cp",
            "distil_ids": distil,
            "nsample": n_rep,
            "cc_q75": np.round(rng.uniform(-0.2, 0.9, size=n), 4),
            "qc_pass": rng.integers(0, 2, size=n),
        }
    )


def stage_release(downloads: Path, n_signatures: int) -> None:
    """Files of release lincs2020 at their staged paths; level 4 / 5 tiny valid GCTX."""
    release = RELEASES["lincs2020"]
    folder = downloads / "lincs2020"
    folder.mkdir(parents=True)
    siginfo_like(n_signatures).to_csv(
        folder / release.files["siginfo"].filename, sep="\t", index=False
    )
    genes = [str(g) for g in range(1, 11)]
    for key in ("level4", "level5"):
        gctx.write_gctx(folder / release.files[key].filename, np.zeros((2, 10)), ["a", "b"], genes)
    for key in ("instinfo", "geneinfo", "compoundinfo", "cellinfo"):
        (folder / release.files[key].filename).write_text("placeholder\n")


def dry_run(workdir: Path, downloads: Path) -> tuple[float, dict[str, int], str]:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-n",
        "--cores",
        "1",
        "--configfile",
        "config/lincs2020.yaml",
        "--config",
        f"downloads_dir={downloads}",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"snakemake -n failed:\n{out[-6000:]}")
    counts = job_counts(out)
    return seconds, counts, out


def job_counts(text: str) -> dict[str, int]:
    """Parse snakemake's 'Job stats' table into {rule: count} (with 'total')."""
    stats = text[text.index("Job stats:") :]
    counts: dict[str, int] = {}
    for line in stats.splitlines()[3:]:
        m = re.fullmatch(r"\s*(\w+)\s+(\d+)\s*", line)
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def test_dry_run_full_lincs2020_is_fast_and_does_not_scale_with_signatures(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "wf", example=False)
    big, small = tmp_path / "dl_full", tmp_path / "dl_small"
    stage_release(big, FULL_SIGNATURES)
    stage_release(small, 1_000)
    siginfo = big / "lincs2020" / RELEASES["lincs2020"].files["siginfo"].filename
    n_rows = sum(1 for _ in siginfo.open()) - 1
    assert n_rows == FULL_SIGNATURES

    seconds, counts_full, out = dry_run(workdir, big)
    _, counts_small, _ = dry_run(workdir, small)
    print(
        f"snakemake -n, lincs2020 config, {n_rows:,} signatures: {seconds:.1f} s, jobs {counts_full}"
    )

    assert seconds < 30, f"dry run took {seconds:.1f} s"
    assert counts_full == counts_small, "the job count depends on the number of signatures"
    # no download jobs (files staged), one release / APC job, shards x seeds x modes valuation
    assert "download_release_file" not in counts_full
    assert counts_full["prepare_release"] == 1 and counts_full["compute_apc"] == 1
    assert counts_full["value_signatures"] == 8 * 5 * 2
    assert counts_full["total"] < 200
    assert "results/apc/lincs2020/apc.tsv" in out
