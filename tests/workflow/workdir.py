"""A copy of the workflow in a temporary folder, as a user's clone would have it."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "lincs" / "example"
WORKFLOW_PARTS = ("Snakefile", "workflow", "config", "envs", "profiles")


def copy_workflow(dest: Path, example: bool = True) -> Path:
    """Copy the Snakefile, rules, configs, envs and profiles (plus the example release) to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_PARTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    if example:
        shutil.copytree(EXAMPLE, dest / "resources" / "lincs" / "example")
    return dest
