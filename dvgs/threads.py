"""Thread caps for a block of work: torch intra-op threads and BLAS / OpenMP pools, restored after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def num_threads(threads: int | None, blas: bool = False) -> Iterator[None]:
    """Run the block with ``threads`` torch threads (and, with ``blas``, BLAS / OpenMP threads).

    ``None`` leaves every setting alone. Small jobs are fastest single-threaded: several threads
    on a shared 2-core machine oversubscribe the cores.
    """
    if threads is None:
        yield
        return
    old = torch.get_num_threads()
    limits = threadpool_limits(limits=threads) if blas else contextlib.nullcontext()
    with limits:
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(old)
