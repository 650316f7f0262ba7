"""Progress bars reach the log (rule log files) with a rate and an ETA."""

from __future__ import annotations

import logging
import re

from dvgs.progress import progress_bar


def test_progress_lines_are_logged_with_eta(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="dvgs.progress"):
        with progress_bar(50, "APC", unit="step", interval=0.0) as bar:
            for _ in range(50):
                bar.update(1)
    lines = [r.getMessage() for r in caplog.records if r.name == "dvgs.progress"]
    assert lines, "no progress line logged"
    # tqdm's "[elapsed<remaining, rate]" block
    assert any(re.search(r"\d+/50 \[\d\d:\d\d<\d\d:\d\d", line) for line in lines), lines
    assert "50/50" in lines[-1]
    assert all(line.startswith("APC:") for line in lines), lines
    assert all("\r" not in line and "\x1b" not in line for line in lines)


def test_disabled_bar_logs_nothing(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="dvgs.progress"):
        with progress_bar(10, "quiet", disable=True) as bar:
            bar.update(10)
    assert not [r for r in caplog.records if r.name == "dvgs.progress"]
