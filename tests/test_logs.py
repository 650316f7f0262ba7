"""A rule script's fatal error reaches its log file, not only stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_uncaught_error_is_written_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "rule.log"
    script = (
        "from dvgs.logs import setup_logging\n"
        f"setup_logging({str(log)!r})\n"
        "raise ValueError('split: lower split.n_target')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 1
    text = log.read_text()
    assert "ValueError: split: lower split.n_target" in text
    assert "Traceback" in text
    assert "split.n_target" in proc.stderr
