"""Progress bars that also reach the rule's log file, with rate and ETA.

Workflow rules run their scripts with stderr going to the terminal (or the cluster's job output), not
to the rule's ``log:`` file. :func:`progress_bar` is a ``tqdm`` bar whose lines are written through
the ``dvgs.progress`` logger instead, at most once every ``interval`` seconds, so the log file of a
long step (download, APC, valuation, filter curves) shows lines like
``dvgs: 40%|####      | 200/500 [00:10<00:15, 20.0step/s]`` (elapsed < remaining, then the rate).
"""

from __future__ import annotations

import io
import logging

from tqdm.auto import tqdm

logger = logging.getLogger("dvgs.progress")


class _LogStream(io.TextIOBase):
    """A text stream that turns each tqdm refresh into one log record."""

    def write(self, text: str) -> int:
        line = text.replace("\x1b[A", "").strip()
        if line:
            logger.info("%s", line)
        return len(text)

    def flush(self) -> None:
        pass


def progress_bar(
    total: float | None,
    desc: str,
    unit: str = "it",
    disable: bool = False,
    interval: float = 10.0,
    initial: float = 0,
    unit_scale: bool = False,
) -> tqdm:
    """A ``tqdm`` bar logged through ``dvgs.progress`` every ``interval`` seconds (and at the end).

    Use as a context manager and call ``update(n)``; ``disable=True`` makes it a no-op.
    """
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=disable,
        initial=initial,
        unit_scale=unit_scale,
        file=_LogStream(),
        mininterval=interval,
        maxinterval=max(interval, 60.0),
        ascii=True,
        dynamic_ncols=False,
        ncols=100,
    )
