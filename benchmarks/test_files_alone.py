"""Every test file passes alone: run each file of shop_pipeline_tests/ in its own pytest process.

The default suite runs in random order (pytest-randomly, seed printed), which catches most
tests that lean on another test's leftovers; a file run alone catches the rest (a fixture or
a log that only an earlier file produced). Opt-in, as it costs about one more suite run plus
a Python start per file.

Usage: python benchmarks/test_files_alone.py [--jobs 2] [FILE ...]   (exit 1 if any file fails)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_files() -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "shop_pipeline_tests").rglob("test_*.py"))


def run_alone(path: str) -> tuple[str, int, float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", path, "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    tail = (done.stdout.strip().splitlines() or [""])[-1]
    return (
        path,
        done.returncode,
        time.perf_counter() - started,
        tail if done.returncode in (0, 5) else done.stdout[-3000:],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="test files (default: every file of shop_pipeline_tests/)")
    parser.add_argument("--jobs", type=int, default=2, help="files run at once")
    args = parser.parse_args()
    files = args.files or test_files()
    failed = []
    print("| file | result | seconds |\n|---|---|---:|", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        for path, code, seconds, tail in pool.map(run_alone, files):
            # exit 5: every test of the file is deselected by default (marked slow)
            result = "passed" if code == 0 else "all deselected" if code == 5 else f"FAILED (exit {code})"
            print(f"| {path} | {result} | {seconds:.1f} |", flush=True)
            if code not in (0, 5):
                failed.append((path, tail))
    for path, tail in failed:
        print(f"\n=== {path} ===\n{tail}")
    print(f"\n{len(files) - len(failed)} of {len(files)} files pass alone")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
