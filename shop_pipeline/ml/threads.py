"""How many OpenMP threads a fit or a prediction gets.

Below SINGLE_THREAD_BELOW_ROWS rows the boosters run on one OpenMP thread: on small data thread
start-up and spin-waiting cost more than they save, badly so on a busy machine (measured: a
4000-row calibrated fit took 0.7 s on one thread and 6-25 s on two threads of a loaded 2-core
box). The controller is built once: `threadpool_limits` inspects every loaded library on each
call (3 ms), which adds up when a run limits threads dozens of times (explanations score once
per feature).
"""

from __future__ import annotations

import contextlib
from functools import cache

from threadpoolctl import ThreadpoolController

SINGLE_THREAD_BELOW_ROWS = 50_000


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def threads_for(n_rows: int) -> contextlib.AbstractContextManager:
    """One OpenMP thread for fewer than SINGLE_THREAD_BELOW_ROWS rows, the default otherwise."""
    if n_rows < SINGLE_THREAD_BELOW_ROWS:
        return _controller().limit(limits=1, user_api="openmp")
    return contextlib.nullcontext()
