"""Mutation score of the modules under [tool.mutmut]: killed / (all - equivalent), per module.

Reads mutmut's results in ./mutants/ (written by `bash scripts/mutation.sh`) and prints one
Markdown row per module, the total, and every mutant the tests did not kill with its diff.
Equivalent mutants (the changed code behaves exactly as the original, so no test can tell
them apart) are excluded from the score only when benchmarks/mutation_equivalent.txt lists
them with a reason; they are printed too, so the list can be reviewed.

A timeout counts as killed (the mutant made the code hang, and the run noticed); "no tests"
(no test reaches the function) and "suspicious" count as not killed; "not checked" mutants
have not been run yet and are shown apart, outside the score.

Usage: python benchmarks/mutation_score.py [--survivors] [--module shop_pipeline.serving.app]
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = Path(__file__).with_name("mutation_equivalent.txt")
DETECTED = {"killed", "timeout", "caught by type check", "segfault"}


def read_equivalents() -> dict[str, str]:
    """`mutant_name  # reason` per line; a line without a reason is refused."""
    equivalents = {}
    for number, line in enumerate(EQUIVALENT_FILE.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, reason = line.partition("#")
        if not reason.strip():
            raise SystemExit(f"{EQUIVALENT_FILE.name}:{number}: an equivalent mutant needs a reason after '#'")
        equivalents[name.strip()] = reason.strip()
    return equivalents


def read_results() -> dict[str, tuple[str, str]]:
    """mutant name -> (source path, status) from every .meta file mutmut wrote."""
    results = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        source = meta.relative_to(ROOT / "mutants").as_posix().removesuffix(".meta")
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            results[name] = (source, status_by_exit_code[exit_code])
    return results


def module_of(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    parser.add_argument("--module", help="only this module (dotted name)")
    args = parser.parse_args()
    if not (ROOT / "mutants").is_dir():
        raise SystemExit("no ./mutants/: run `bash scripts/mutation.sh` first")
    os.chdir(ROOT)  # mutmut's diff helper reads mutants/<path> relative to the repository
    equivalents = read_equivalents()
    results = read_results()
    unknown = sorted(set(equivalents) - set(results))
    if unknown:
        print(f"warning: {len(unknown)} listed equivalent mutants no longer exist: {', '.join(unknown[:5])}")

    by_module: dict[str, Counter] = defaultdict(Counter)
    undetected: list[tuple[str, str, str]] = []
    for name, (source, status) in sorted(results.items()):
        module = module_of(source)
        if args.module and module != args.module:
            continue
        counts = by_module[module]
        counts["all"] += 1
        if status == "not checked":
            counts["not checked"] += 1
        elif name in equivalents:
            counts["equivalent"] += 1
        elif status in DETECTED:
            counts["killed"] += 1
        else:
            counts[status] += 1
            undetected.append((name, source, status))

    def row(label: str, c: Counter) -> str:
        scored = c["all"] - c["not checked"] - c["equivalent"]
        score = f"{100 * c['killed'] / scored:.1f}%" if scored else "-"
        return (f"| {label} | {c['all']} | {c['not checked']} | {c['equivalent']} | {c['killed']} | "
                f"{c['survived']} | {c['no tests']} | {c['suspicious']} | {score} |")

    print("| module | mutants | not checked | equivalent | killed | survived | no tests | suspicious | score |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    total: Counter = Counter()
    for module in sorted(by_module):
        print(row(module, by_module[module]))
        total.update(by_module[module])
    print(row("**all**", total))

    print(f"\n{len(undetected)} mutants not killed"
          + (" (diffs below)" if args.survivors else " (--survivors prints their diffs)"))
    for name, source, status in undetected:
        print(f"- {status}: {name}")
        if args.survivors:
            print("  " + get_diff_for_mutant(name, path=source).replace("\n", "\n  "))
    listed = [(name, reason) for name, reason in equivalents.items() if name in results]
    if listed:
        print(f"\n{len(listed)} equivalent mutants excluded (benchmarks/mutation_equivalent.txt):")
        for name, reason in listed:
            print(f"- {name}: {reason}")


if __name__ == "__main__":
    main()
