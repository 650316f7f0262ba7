"""Shared fixtures: paths to the real example data under resources/."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LINCS_DIR = REPO_ROOT / "resources" / "lincs"


@pytest.fixture(scope="session")
def lincs_raw_dir() -> Path:
    """Byte-identical copies of the real CMap files (resources/lincs/raw)."""
    return LINCS_DIR / "raw"


@pytest.fixture(scope="session")
def lincs_example_dir() -> Path:
    """The committed example release built from lincs_raw_dir (resources/lincs/example)."""
    return LINCS_DIR / "example"
