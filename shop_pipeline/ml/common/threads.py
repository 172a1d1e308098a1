"""How many threads the model code's native libraries (OpenMP, BLAS) use: chosen once per process.

A busy machine is the normal case (tests, benchmarks and other jobs share two cores), and every
native library defaults to one spinning thread per core, which makes a loaded run many times
slower. Idle threads sleep (OMP_WAIT_POLICY=PASSIVE, set by shop_pipeline/__init__.py before any
library loads), and:

* `process_threads()` decides once per process: the cores this process may run on
  (os.sched_getaffinity), unless SHOP_PIPELINE_THREADS or OMP_NUM_THREADS says. Not fewer when
  the machine is busy: with idle threads asleep, a process's CPU share under contention grows
  with its runnable threads (docs/benchmarks.md, benchmarks/threads.py). A Dagster run takes
  the `model_threads` resource's `threads` instead when it is set (`use_threads`).
* `configure()` applies that limit to every OpenMP and BLAS library loaded (threadpoolctl),
  once (again only when `use_threads` changes the number); model code calls it (through
  `threads_for`) before its first heavy call.
* Below SINGLE_THREAD_BELOW_ROWS rows a fit runs on one OpenMP thread: on small data thread
  start-up costs more than it saves.

The controller is built once: `threadpool_limits` inspects every loaded library on each call,
which adds up when a run limits threads dozens of times (explanations score once per feature).
"""

from __future__ import annotations

import contextlib
import os
from functools import cache

from threadpoolctl import ThreadpoolController

from shop_pipeline.settings import available_cores

SINGLE_THREAD_BELOW_ROWS = 50_000
THREADS_ENV = "SHOP_PIPELINE_THREADS"


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@cache
def process_threads() -> int:
    """Threads for this process's native libraries, decided on the first call (see the module doc)."""
    for variable in (THREADS_ENV, "OMP_NUM_THREADS"):  # an explicit choice (the test suite pins 1)
        value = os.environ.get(variable, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return available_cores()


_chosen: int | None = None  # use_threads(): the run's choice, else process_threads()
_applied: int | None = None  # the limit configure() last applied


def use_threads(threads: int | None) -> int:
    """This process's threads from now on: `threads`, or process_threads() when None; applied
    (configure) and returned. The `model_threads` resource calls it as a model asset starts."""
    global _chosen
    if threads is not None and threads < 1:
        raise ValueError(f"model threads must be at least 1, got {threads}")
    _chosen = threads
    return configure()


def configure() -> int:
    """Limit every loaded OpenMP and BLAS library to the chosen threads (use_threads, else
    process_threads()), once per number chosen; returns it."""
    global _applied
    threads = _chosen or process_threads()
    if threads != _applied:
        _controller().limit(limits=threads)
        _applied = threads
    return threads


def threads_for(n_rows: int) -> contextlib.AbstractContextManager:
    """One OpenMP thread for fewer than SINGLE_THREAD_BELOW_ROWS rows, the process's threads otherwise."""
    configure()
    if n_rows < SINGLE_THREAD_BELOW_ROWS:
        return _controller().limit(limits=1, user_api="openmp")
    return contextlib.nullcontext()
