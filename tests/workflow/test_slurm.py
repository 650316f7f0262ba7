"""The tiny config through profiles/slurm on a real single-node SLURM cluster.

profiles/slurm/local_cluster.sh stands the cluster up (munged, MariaDB, slurmdbd, slurmctld, slurmd,
two stand-in GPUs on the node) and tears it down afterwards. Needs root and the Debian packages
``slurm-wlm munge slurmdbd mariadb-server`` (.ci/run installs them). Without them the test is
skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from workdir import copy_workflow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "lincs" / "example"
CLUSTER_SCRIPT = ROOT / "profiles" / "slurm" / "local_cluster.sh"
# the local cluster's names (local_cluster.sh): what a user writes into profiles/slurm once
ACCOUNT, CPU_PARTITION, GPU_PARTITION = "dvgs", "cpu", "gpu"
STATE_DIR = "/tmp/dvgs-slurm-test"
SLURM_RUN_TIMEOUT_S = 600  # hard kill of the whole snakemake process group
LOCAL_RUN_TIMEOUT_S = 300
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TOOLS = (
    "munged", "mariadbd", "mariadb-install-db", "mariadb", "slurmdbd", "slurmctld", "slurmd",
    "sbatch", "sacct", "sacctmgr",
)  # fmt: skip
QUALITY = Path("results/quality/example/all/signature_quality.tsv")

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]


def require_cluster_tools() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("the local SLURM cluster needs root")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        problems.append(
            f"missing {', '.join(missing)}: "
            "apt-get install -y slurm-wlm munge slurmdbd mariadb-server"
        )
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        problems.append(
            'snakemake-executor-plugin-slurm is not installed: pip install -e ".[slurm]"'
        )
    if problems:
        message = "; ".join(problems)
        if IN_CI:
            pytest.fail(f"CI=true and the SLURM test cannot run: {message}")
        pytest.skip(message)


def cluster_env() -> dict[str, str]:
    return {**os.environ, "DVGS_SLURM_DIR": STATE_DIR, "SLURM_CONF": f"{STATE_DIR}/etc/slurm.conf"}


def cluster(action: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), action],
        env=cluster_env(),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def set_cluster_names(profile: Path) -> dict:
    """What a user does once: account and partitions of their cluster into profiles/slurm."""
    settings = yaml.safe_load(profile.read_text())
    settings["default-resources"]["slurm_account"] = ACCOUNT
    settings["default-resources"]["slurm_partition"] = CPU_PARTITION
    settings["set-resources"]["value_signatures"]["slurm_partition"] = GPU_PARTITION
    profile.write_text(yaml.safe_dump(settings, sort_keys=False))
    return settings


def start(cmd: list[str], cwd: Path, log: Path, env=None) -> subprocess.Popen:
    """Start cmd in its own process group (so that a hard kill reaches every child)."""
    with log.open("w") as out:  # the child keeps its own copy of the file descriptor
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def finish(proc: subprocess.Popen, log: Path, deadline: float) -> str:
    """Wait until the monotonic deadline; past it kill the whole group and fail. Returns the log."""
    try:
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        tail = log.read_text(errors="replace")[-4000:]
        pytest.fail(f"{' '.join(proc.args[:6])} ... killed at its hard time limit:\n{tail}")
    text = log.read_text(errors="replace")
    assert code == 0, f"{' '.join(proc.args[:6])} ... failed:\n{text[-6000:]}"
    return text


def mem_mb(value: str) -> int:
    """sacct's ReqMem (1031M, 1G) in MB."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT])n?c?", value)
    if match is None:
        raise ValueError(f"sacct ReqMem: cannot read {value!r}, expected e.g. 1031M or 1G")
    factor = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}[match.group(2)]
    return round(float(match.group(1)) * factor)


@pytest.fixture(scope="module")
def local_cluster():
    require_cluster_tools()
    started = cluster("up")
    if started.returncode != 0:
        cluster("down")
        pytest.fail(f"local SLURM cluster did not start:\n{started.stderr[-6000:]}")
    try:
        yield cluster_env()
    finally:
        stopped = cluster("down")
        assert stopped.returncode == 0, stopped.stderr
        assert not Path(STATE_DIR).exists()


@pytest.fixture(scope="module")
def runs(local_cluster, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("slurm")
    local = copy_workflow(base / "local")
    on_slurm = copy_workflow(base / "on_slurm")
    settings = set_cluster_names(on_slurm / "profiles" / "slurm" / "config.yaml")
    start_s = time.monotonic()
    # the local reference run goes alongside: the SLURM run mostly waits on status checks
    local_run = start(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "config/tiny.yaml"],
        local,
        base / "local.log",
    )
    slurm_run = start(
        [
            sys.executable, "-m", "snakemake", "--profile", "profiles/slurm",
            "--configfile", "config/tiny.yaml",
            # tests only: first status check 2 s after a submission instead of 40 s
            "--slurm-init-seconds-before-status-checks", "2",
            "--verbose",  # the plugin logs each sbatch call at debug level
        ],
        on_slurm,
        base / "slurm.log",
        env=local_cluster,
    )  # fmt: skip
    try:
        finish(local_run, base / "local.log", start_s + LOCAL_RUN_TIMEOUT_S)
        log = finish(slurm_run, base / "slurm.log", start_s + SLURM_RUN_TIMEOUT_S)
    finally:  # one run failed: the other one does not outlive the test
        for proc in (local_run, slurm_run):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    print(f"\nSLURM run of the tiny config: {time.monotonic() - start_s:.0f} s")
    sacct = subprocess.run(
        ["sacct", "-X", "-a", "-P", "-n", "-o",
         "JobID,Comment%200,Partition,Account,ReqMem,ReqTRES%200,State"],
        env=local_cluster, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    jobs = [dict(zip(JOB_FIELDS, line.split("|"), strict=True)) for line in sacct.splitlines()]
    # the workflow's jobs (the plugin comments each with its rule), not local_cluster.sh's smoke test
    jobs = [job for job in jobs if job["comment"].startswith("rule_")]
    return {
        "local": local,
        "slurm": on_slurm,
        "log": log,
        "jobs": jobs,
        "settings": settings,
        "config": yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text()),
    }


JOB_FIELDS = ("id", "comment", "partition", "account", "req_mem", "req_tres", "state")


def expected_valuation_mem_mb(workdir: Path) -> int:
    """profiles/slurm: value_signatures mem_mb = int((1024 + 130 * split_mb) * attempt)."""
    split = workdir / "results" / "splits" / "example" / "all" / "split.tsv"
    return int((1024 + 130 * split.stat().st_size / 1024 / 1024) * 1)


def test_quality_table_equals_local_run(runs) -> None:
    local = (runs["local"] / QUALITY).read_bytes()
    on_slurm = (runs["slurm"] / QUALITY).read_bytes()
    assert local == on_slurm


def test_every_rule_ran_as_its_own_completed_job(runs) -> None:
    jobs = runs["jobs"]
    assert all(job["state"] == "COMPLETED" for job in jobs), jobs
    assert all(job["account"] == ACCOUNT for job in jobs), jobs
    rules = [re.match(r"rule_(\w+?)_wildcards", job["comment"]).group(1) for job in jobs]
    valuation = runs["config"]["valuation"]
    n_valuation = len(valuation["seeds"]) * valuation["n_shards"]
    assert rules.count("value_signatures") == n_valuation
    for rule in (
        "prepare_release",
        "compute_apc",
        "split_signatures",
        "aggregate_values",
        "filter_curves",
        "build_quality_table",
        "plot_figures",
    ):
        assert rules.count(rule) == 1, (rule, rules)


def test_valuation_jobs_request_gpu_memory_and_partition(runs) -> None:
    expected_mem = expected_valuation_mem_mb(runs["slurm"])
    for job in runs["jobs"]:
        if job["comment"].startswith("rule_value_signatures_"):
            assert job["partition"] == GPU_PARTITION, job
            assert "gres/gpu=1" in job["req_tres"], job
            assert mem_mb(job["req_mem"]) == expected_mem, job
        else:
            assert job["partition"] == CPU_PARTITION, job
            assert "gres/gpu" not in job["req_tres"], job
            assert mem_mb(job["req_mem"]) >= 1024, job


def test_sbatch_lines_carry_the_profile_options(runs) -> None:
    calls = [
        line.split("--wrap=")[0]
        for line in runs["log"].splitlines()
        if line.startswith("sbatch call: ")
    ]
    valuation = [call for call in calls if "--comment rule_value_signatures_" in call]
    settings = runs["config"]["valuation"]
    assert len(valuation) == len(settings["seeds"]) * settings["n_shards"]
    expected_mem = expected_valuation_mem_mb(runs["slurm"])
    for call in valuation:
        options = call.split()
        assert "--gpus=1" in options, call
        assert options[options.index("-p") + 1] == GPU_PARTITION, call
        assert options[options.index("-A") + 1] == ACCOUNT, call
        assert options[options.index("--mem") + 1] == str(expected_mem), call
        assert options[options.index("-t") + 1] == "30", call
        assert "--cpus-per-task=1" in options, call
    others = [call for call in calls if call not in valuation]
    assert others and all("--gpus" not in call for call in others)
    # the profile's latency-wait reaches the jobs (profiles/default does not override it)
    assert f"--latency-wait {runs['settings']['latency-wait']}" in runs["log"]
