"""How many threads the model code's native libraries (OpenMP, BLAS) use: chosen once per process.

A busy machine is the normal case (tests, benchmarks and other jobs share two cores), and the
default of every native library is to start one thread per core and have idle threads
spin-wait. On a 2-core box with two other CPU-bound processes a demand-forecast fit took 81 s
with libgomp's defaults against 8 s on the quiet box; with idle threads sleeping
(OMP_WAIT_POLICY=PASSIVE, then a short spin count, set by shop_pipeline/__init__.py before any
library loads) it took
13 s against 7 s. So:

* `process_threads()` decides once per process: the cores this process may run on
  (os.sched_getaffinity), unless SHOP_PIPELINE_THREADS or OMP_NUM_THREADS says. Not fewer when the machine is busy: with
  idle threads asleep, a process's CPU share under contention grows with its runnable threads,
  and taking one thread when others were busy at start made the loaded run slower, not
  faster (benchmarks/threads.py, model steps of a 1M-event run beside two CPU burners, medians:
  2.64x the quiet wall time with the thread count sampled from the machine's busy cores at
  start, 1.91x with every core).
* `configure()` applies that limit to every OpenMP and BLAS library loaded (threadpoolctl),
  once; model code calls it (through `threads_for`) before its first heavy call.
* Below SINGLE_THREAD_BELOW_ROWS rows a fit runs on one OpenMP thread: on small data thread
  start-up costs more than it saves (a 4000-row calibrated fit took 0.7 s on one thread and
  6-25 s on two threads of a loaded 2-core box).

The controller is built once: `threadpool_limits` inspects every loaded library on each call
(3 ms), which adds up when a run limits threads dozens of times (explanations score once per
feature).
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


@cache
def configure() -> int:
    """Limit every loaded OpenMP and BLAS library to process_threads(), once per process; returns it."""
    threads = process_threads()
    _controller().limit(limits=threads)
    return threads


def threads_for(n_rows: int) -> contextlib.AbstractContextManager:
    """One OpenMP thread for fewer than SINGLE_THREAD_BELOW_ROWS rows, the process's threads otherwise."""
    configure()
    if n_rows < SINGLE_THREAD_BELOW_ROWS:
        return _controller().limit(limits=1, user_api="openmp")
    return contextlib.nullcontext()
