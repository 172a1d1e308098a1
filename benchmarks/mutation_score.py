"""Mutation score of the modules under [tool.mutmut]: killed / (all - equivalent), per module.

Reads mutmut's results in ./mutation/<group>/mutants/ (written by `bash scripts/mutation.sh`)
and prints one Markdown row per module, the total, and every mutant the tests did not kill.
Equivalent mutants (the changed code behaves exactly as the original, so no test can tell
them apart) are excluded from the score in two ways, both printed so they can be reviewed:
- listed with a reason in benchmarks/mutation_equivalent.txt;
- found by rule: the mutant only changes the letter case of a SQL statement (a string DuckDB
  parses) and leaves its string constants, parameters and placeholders as they were. DuckDB's
  keywords and identifiers are case-insensitive, so such a statement does the same work.

A timeout counts as killed (the mutant made the code hang, and the run noticed), unless
--timeouts-unchecked: on a machine loaded well past its cores, tests of unchanged code overrun
mutmut's limit (measured on the clean run) too, so a timeout there proves nothing; "no tests"
(no test reaches the function) and "suspicious" count as not killed; "not checked" mutants
have not been run yet and are shown apart, outside the score.

Usage: python benchmarks/mutation_score.py [--survivors] [--timeouts-unchecked] [--module shop_pipeline.serving.app]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import libcst as cst
from mutmut.mutation.diff_apply import get_diff_for_mutant, read_functions_from_index
from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "mutation"
SQL_CASE_REASON = "changes only the letter case of SQL keywords and identifiers (case-insensitive in DuckDB)"
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


def read_results() -> dict[str, tuple[Path, str, str]]:
    """mutant name -> (group folder, source path, status) from every .meta file mutmut wrote."""
    results = {}
    for meta in sorted(WORK.glob("*/mutants/**/*.py.meta")):
        group = meta.parents[len(meta.relative_to(WORK).parts) - 2]
        source = meta.relative_to(group / "mutants").as_posix().removesuffix(".meta")
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            results[name] = (group, source, status_by_exit_code[exit_code])
    return results


def _string_values(function: cst.FunctionDef) -> list[tuple[str, str | None]]:
    """Every string literal of a function in order: (its code, its value when it is a plain literal)."""
    found: list[tuple[str, str | None]] = []

    class Strings(cst.CSTVisitor):
        def visit_SimpleString(self, node: cst.SimpleString) -> None:
            found.append((node.value, ast.literal_eval(node.value)))

        def visit_FormattedString(self, node: cst.FormattedString) -> bool:
            found.append((cst.Module([]).code_for_node(node), None))
            return False

    function.visit(Strings())
    return found


def _same_sql_but_case(original: str, mutated: str) -> bool:
    if original == mutated or original.lower() != mutated.lower():
        return False
    try:
        if not duckdb.extract_statements(original):
            return False
        tokens = duckdb.tokenize(original)
    except duckdb.Error:
        return False  # not a SQL statement: its case may matter
    starts = [start for start, _ in tokens] + [len(original)]
    for (start, kind), end in zip(tokens, starts[1:]):
        literal = kind == duckdb.token_type.string_const or original[start] in "$?"
        if literal and original[start:end] != mutated[start:end]:
            return False
    return True


def sql_case_only(name: str, source: str) -> bool:
    """The mutant changes nothing but the case of SQL statements (see the module docstring)."""
    functions = read_functions_from_index(name, source)
    if functions is None:
        return False
    original, mutated = functions
    if cst.Module([original]).code.lower() != cst.Module([mutated]).code.lower():
        return False
    before, after = _string_values(original), _string_values(mutated)
    if len(before) != len(after):
        return False
    changed = [(b, a) for b, a in zip(before, after) if b[0] != a[0]]
    return bool(changed) and all(
        b[1] is not None and a[1] is not None and _same_sql_but_case(b[1], a[1]) for b, a in changed
    )


def module_of(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")


def classify(name: str, source: str, status: str, equivalents: dict[str, str]) -> str:
    """The column of the table a mutant counts in: not checked, equivalent, killed, or its status."""
    if status == "not checked":
        return "not checked"
    if name in equivalents:
        return "equivalent"
    if status in DETECTED:
        return "killed"
    if sql_case_only(name, source):
        return "equivalent"
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    parser.add_argument("--module", help="only this module (dotted name)")
    parser.add_argument(
        "--timeouts-unchecked",
        action="store_true",
        help="count timeouts as not checked instead of killed (runs on an overloaded machine)",
    )
    args = parser.parse_args()
    results = read_results()
    if not results:
        raise SystemExit("no mutation results under ./mutation/: run `bash scripts/mutation.sh` first")
    equivalents = read_equivalents()
    by_rule: list[str] = []
    unknown = sorted(set(equivalents) - set(results))
    if unknown:
        print(f"warning: {len(unknown)} listed equivalent mutants no longer exist: {', '.join(unknown[:5])}")

    by_module: dict[str, Counter] = defaultdict(Counter)
    undetected: list[tuple[str, str, str]] = []
    for name, (group, source, status) in sorted(results.items()):
        module = module_of(source)
        if args.module and module != args.module:
            continue
        os.chdir(group)  # mutmut's helpers read mutants/<path> relative to the group's copy
        counts = by_module[module]
        counts["all"] += 1
        if status == "timeout" and args.timeouts_unchecked:
            status = "not checked"
            counts["timeout"] += 1
        verdict = classify(name, source, status, equivalents)
        counts[verdict] += 1
        if verdict == "equivalent" and name not in equivalents:
            by_rule.append(name)
        elif verdict not in ("not checked", "equivalent", "killed"):
            undetected.append((name, group, source, status))

    def row(label: str, c: Counter) -> str:
        scored = c["all"] - c["not checked"] - c["equivalent"]
        score = f"{100 * c['killed'] / scored:.1f}%" if scored else "-"
        return (
            f"| {label} | {c['all']} | {c['not checked']} | {c['equivalent']} | {c['killed']} | "
            f"{c['survived']} | {c['no tests']} | {c['suspicious']} | {score} |"
        )

    print("| module | mutants | not checked | equivalent | killed | survived | no tests | suspicious | score |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    total: Counter = Counter()
    for module in sorted(by_module):
        print(row(module, by_module[module]))
        total.update(by_module[module])
    print(row("**all**", total))

    print(
        f"\n{len(undetected)} mutants not killed"
        + (" (diffs below)" if args.survivors else " (--survivors prints their diffs)")
    )
    for name, group, source, status in undetected:
        print(f"- {status}: {name}")
        if args.survivors:
            os.chdir(group)
            print("  " + get_diff_for_mutant(name, path=source).replace("\n", "\n  "))
    listed = [(name, reason) for name, reason in equivalents.items() if name in results]
    listed += [(name, SQL_CASE_REASON) for name in by_rule]
    if listed:
        print(
            f"\n{len(listed)} equivalent mutants excluded ({len(by_rule)} by the SQL case rule, "
            f"the rest listed in benchmarks/mutation_equivalent.txt):"
        )
        for name, reason in listed:
            print(f"- {name}: {reason}")


if __name__ == "__main__":
    main()
