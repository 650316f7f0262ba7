"""Logging set-up for workflow scripts and command-line entry points."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_files: Sequence[str] | str | None = None, level: int = logging.INFO) -> None:
    """Send dvgs log records to the rule's log file(s) and to stderr."""
    if isinstance(log_files, str):
        log_files = [log_files]
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    for path in log_files or []:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _log_uncaught(exc_type, exc, tb) -> None:
    """An error that ends a rule's script also lands in its log file (on a cluster, stderr is in
    the job's output, not under logs/)."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("dvgs").error("%s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
