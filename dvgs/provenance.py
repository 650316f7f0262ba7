"""Run provenance written next to final tables: what produced these numbers."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from dvgs.io.atomic import atomic_path

logger = logging.getLogger(__name__)

PACKAGES = ("dvgs", "torch", "numpy", "pandas", "scipy", "scikit-learn", "h5py", "snakemake")


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the config serialised with sorted keys."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def git_commit(workdir: str | Path) -> str | None:
    """The workflow's git commit (with ``-dirty`` when there are local changes), if any."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def write_provenance(
    path: str | Path,
    release: str,
    inputs: Mapping[str, str | Path],
    config: Mapping[str, Any],
    seeds: Sequence[int],
    device: str,
    workdir: str | Path = ".",
    checksums: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Write a JSON record of release, input checksums, config hash, versions, commit, seeds.

    ``checksums`` gives known checksums (e.g. from verified downloads) so that large inputs are
    not hashed again; other inputs are hashed with sha256.
    """
    known = dict(checksums or {})
    record = {
        "release": release,
        "inputs": {
            key: {"path": str(value), "checksum": known.get(key) or "sha256:" + file_sha256(value)}
            for key, value in sorted(inputs.items())
        },
        "config_sha256": config_hash(config),
        "config": config,
        "packages": package_versions(),
        "python": platform.python_version(),
        "workflow_commit": git_commit(workdir),
        "seeds": list(seeds),
        "device": device,
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return record
