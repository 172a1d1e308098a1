"""How many threads the model code's native libraries (OpenMP, BLAS) use: chosen once per process.

A busy machine is the normal case (tests, benchmarks and other jobs share two cores), and the
default of every native library is to start one thread per core and have idle threads
spin-wait. On a 2-core box with two other CPU-bound processes a demand-forecast fit took 81 s
with libgomp's defaults against 8 s on the quiet box; with idle threads sleeping
(OMP_WAIT_POLICY=PASSIVE, set by shop_pipeline/__init__.py before any library loads) it took
13 s against 7 s. So:

* `process_threads()` decides once per process: the cores this process may run on
  (os.sched_getaffinity) minus the cores other processes keep busy at that moment (the
  machine's busy time over a short sample of /proc/stat, falling back to the 1-minute load
  average), at least 1. SHOP_PIPELINE_THREADS overrides it.
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
import time
from functools import cache

from threadpoolctl import ThreadpoolController

SINGLE_THREAD_BELOW_ROWS = 50_000
THREADS_ENV = "SHOP_PIPELINE_THREADS"
SAMPLE_SECONDS = 0.25  # how long the machine's busy cores are sampled, once per process


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; os.cpu_count where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat; None where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def busy_cores(sample_seconds: float = SAMPLE_SECONDS) -> float:
    """Cores other processes keep busy now: the machine's busy share over a short sample while
    this thread sleeps, times the cores (the 1-minute load average where /proc/stat is missing)."""
    before = _cpu_times()
    if before is None:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    time.sleep(sample_seconds)
    after = _cpu_times()
    busy, total = after[0] - before[0], after[1] - before[1]
    return (os.cpu_count() or 1) * busy / total if total > 0 else 0.0


@cache
def process_threads() -> int:
    """Threads for this process's native libraries, decided on the first call (see the module doc)."""
    override = os.environ.get(THREADS_ENV, "").strip()
    if override:
        return max(1, int(override))
    cores = available_cores()
    if cores == 1:
        return 1
    return max(1, min(cores, int(cores - busy_cores() + 0.5)))


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
