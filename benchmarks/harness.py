"""What every benchmark script shares: a child process timed with its own peak RSS, the
machine's load average, and a Markdown table. Imported by the scripts in this folder
(`python benchmarks/<script>.py` puts the folder on sys.path)."""

from __future__ import annotations

import os
import subprocess
import time


def run_timed(
    command: list[str], env: dict | None = None, check: bool = True, echo: bool = True
) -> tuple[float, float, bool]:
    """Wall seconds, peak RSS (MiB) and success of one child process (echo: print its command first).

    check=True: a failure ends the benchmark (SystemExit); check=False: it is printed and the
    benchmark goes on with whatever the process left."""
    if echo:
        print(f"$ {' '.join(command)}", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        if check:
            raise SystemExit(f"failed ({code}): {' '.join(command)}")
        print(f"# FAILED (exit {code}) after {seconds:.1f} s: {' '.join(command)}", flush=True)
    return seconds, usage.ru_maxrss / 1024, code == 0


def timed(command: list[str], env: dict | None = None, echo: bool = True) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process that must succeed."""
    seconds, rss, _ = run_timed(command, env, echo=echo)
    return seconds, rss


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
