"""Mutation testing, one group of modules at a time (opt-in; `bash scripts/mutation.sh`).

mutmut plants one small change (a mutant) at a time in a module and runs the tests that reach
the changed function; a mutant no test notices "survives". pyproject.toml's [tool.mutmut]
lists the modules (`only_mutate`). Run over the whole suite at once, every mutant of a
function that an end-to-end test reaches would wait for that test: hours on 2 cores. So each
group below pairs its modules with the tests that exercise them, and runs in its own copy of
the repository. The groups leave out the end-to-end tests whose fixtures run the whole pipeline
(test_model_reuse, test_short_shop, test_kill_recovery): every mutant would build their shop
again in its own process (a minute each). A mutant only they would kill counts as a survivor,
which asks for the faster unit test. Each group runs in its own copy, `mutation/<group>/` (git-ignored), where mutmut keeps its results: a second run
continues where the first stopped and re-checks only the functions that changed.

Tests that start a subprocess (the CLI) see the mutants too: PYTHONPATH points at the mutated
copy, and mutmut's MUTANT_UNDER_TEST reaches the child through the environment. But mutmut
learns which tests reach a function only in its own process, so the API tests' server runs in
a thread of the test process here (SHOP_PIPELINE_TEST_SERVER=in-process).

The "serving" group runs the serving tests that need no pipeline run: a tiny snapshot published
from a few rows (shop_pipeline_tests/serving/tiny_shop.py) and the app in process, about a second
a mutant. The online model modules ("online") need the generated shop's trained models: its shop
(a pipeline run, ~20 s) is built once per invocation and copied for each mutant
(SHOP_PIPELINE_TEST_SHOP_CACHE, shop_pipeline_tests/pipeline_shop.py), still ~30 s a mutant.

Usage: python benchmarks/mutation.py [GROUP ...] [--children 2] [--mutants GLOB ...] [--survivors]
       [--timeout-multiplier 20]
       (no GROUP: every group, in the order below); then benchmarks/mutation_score.py
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "mutation"

# group -> (modules, as only_mutate globs; the tests that exercise them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "runs": (
        ["shop_pipeline/instance.py", "shop_pipeline/defs/skips.py", "shop_pipeline/pipeline_run.py"],
        [
            "shop_pipeline_tests/test_instance.py",
            "shop_pipeline_tests/defs/test_skips.py",
            "shop_pipeline_tests/test_cli.py",
            "shop_pipeline_tests/test_pipeline_run.py",
            "shop_pipeline_tests/test_instance_recovery.py",
            "shop_pipeline_tests/defs/test_skips_reasons.py",
        ],
    ),
    "models": (
        ["shop_pipeline/ml/common/registry.py", "shop_pipeline/ml/common/lifecycle.py"],
        ["shop_pipeline_tests/ml/common"],
    ),
    "ingestion": (
        [
            "shop_pipeline/warehouse/ingest.py",
            "shop_pipeline/warehouse/staging.py",
            "shop_pipeline/warehouse/retract.py",
        ],
        ["shop_pipeline_tests/warehouse"],
    ),
    "features": (
        ["shop_pipeline/features/changes.py", "shop_pipeline/features/staged_changes.py"],
        ["shop_pipeline_tests/features"],
    ),
    "serving": (
        ["shop_pipeline/serving/*"],
        [
            # a tiny snapshot published straight from a few rows (tiny_shop.py) and the app in process:
            # about a second a mutant, where the generated shop's tests cost ~30 s (the "online" group)
            "shop_pipeline_tests/serving/test_snapshot_publish.py",
            "shop_pipeline_tests/serving/test_store.py",
            "shop_pipeline_tests/serving/test_app.py",
            "shop_pipeline_tests/serving/test_prediction_log.py",
            "shop_pipeline_tests/serving/test_api.py::test_only_a_loopback_address_may_be_served_without_a_token",
            "shop_pipeline_tests/serving/test_api.py::test_the_token_comes_from_the_file_else_the_environment_trimmed",
            "shop_pipeline_tests/serving/test_api.py::test_serve_runs_the_app_of_the_home_on_the_given_address_with_its_token",
        ],
    ),
    "online": (
        [
            "shop_pipeline/ml/demand_forecast/online.py",
            "shop_pipeline/ml/order_risk/online.py",
            "shop_pipeline/ml/order_risk/order_history.py",
        ],
        [
            "shop_pipeline_tests/serving",
            # 20-45 s each on 2 busy cores, paid again by every mutant they reach that a faster test
            # does not kill: schemathesis' whole document, every order over HTTP, a CLI subprocess
            "--deselect=shop_pipeline_tests/serving/test_openapi_contract.py::test_the_openapi_document_tells_the_truth",
            "--deselect=shop_pipeline_tests/serving/test_order_risk.py::test_every_orders_score_over_http_equals_the_batch_score",
            "--deselect=shop_pipeline_tests/serving/test_api.py::test_binding_beyond_loopback_without_a_token_is_refused",
        ],
    ),
    "sources": (
        ["shop_pipeline/sources/*"],
        [
            "shop_pipeline_tests/sources",
            "shop_pipeline_tests/warehouse",
            # sources/landing_erase.py (forget and the retention purge rewrite landed files): its unit tests
            "shop_pipeline_tests/privacy/test_landing_erase.py",
        ],
    ),
    "quality": (
        ["shop_pipeline/quality/*"],
        [
            "shop_pipeline_tests/features",
            "shop_pipeline_tests/warehouse",
            "shop_pipeline_tests/test_resources.py",
            "shop_pipeline_tests/defs/test_feature_gate.py",
            "shop_pipeline_tests/defs/test_pipeline_materialization.py",
        ],
    ),
}


def configured_modules() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]


def check_groups_cover_configuration() -> None:
    """Every module of [tool.mutmut] belongs to exactly one group, and no group adds one."""
    configured = configured_modules()
    grouped = [pattern for modules, _ in GROUPS.values() for pattern in modules]
    if sorted(configured) != sorted(grouped):
        raise SystemExit(
            f"benchmarks/mutation.py GROUPS and [tool.mutmut] only_mutate differ: "
            f"only configured {sorted(set(configured) - set(grouped))}, "
            f"only grouped {sorted(set(grouped) - set(configured))}"
        )


def repository_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return [name for name in listed if (ROOT / name).is_file()]


def sync_copy(workdir: Path) -> None:
    """Copy the repository into workdir, writing only files whose bytes changed (mutmut reuses the rest)."""
    for name in repository_files():
        source, target = ROOT / name, workdir / name
        if target.exists() and target.read_bytes() == source.read_bytes():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    venv = workdir / ".venv"
    if not venv.exists():
        venv.symlink_to(ROOT / ".venv")


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def write_group_configuration(
    workdir: Path, modules: list[str], tests: list[str], timeout_multiplier: float | None = None
) -> None:
    pyproject = workdir / "pyproject.toml"
    text = pyproject.read_text()
    section = re.search(r"^\[tool\.mutmut\]\n(?:(?!^\[).*\n?)*", text, flags=re.M)
    if section is None:
        raise SystemExit("pyproject.toml has no [tool.mutmut] section")
    body = section.group(0)
    body = re.sub(r"^only_mutate = \[.*?\]\n", f"only_mutate = {toml_list(modules)}\n", body, flags=re.M | re.S)
    body = re.sub(
        r"^pytest_add_cli_args_test_selection = \[.*?\]\n",
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n",
        body,
        flags=re.M | re.S,
    )
    if timeout_multiplier is not None:
        # mutmut then re-checks only the mutants it had found timing out (its "timeout" settings changed)
        body = re.sub(r"^timeout_multiplier = .*$", f"timeout_multiplier = {timeout_multiplier}", body, flags=re.M)
    pyproject.write_text(text[: section.start()] + body + text[section.end() :])


def undetected_mutants(workdir: Path) -> list[str]:
    """The mutants of a group's last run that no test killed (survived, no tests, suspicious)."""
    import json

    from mutmut.stats import status_by_exit_code

    names = []
    for meta in sorted((workdir / "mutants").rglob("*.py.meta")):
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if status_by_exit_code[exit_code] in ("survived", "no tests", "suspicious"):
                names.append(name)
    return names


def run_group(
    group: str,
    children: int,
    mutant_globs: list[str],
    survivors: bool = False,
    timeout_multiplier: float | None = None,
) -> int:
    modules, tests = GROUPS[group]
    workdir = WORK / group
    workdir.mkdir(parents=True, exist_ok=True)
    sync_copy(workdir)
    write_group_configuration(workdir, modules, tests, timeout_multiplier)
    # mutmut writes the mutated package to mutants/; it must exist before Python starts, or the
    # interpreter caches the PYTHONPATH entry as missing and imports the unmutated package
    (workdir / "mutants").mkdir(exist_ok=True)
    # the serving tests' shop is built once per invocation (by the unmutated code, in mutmut's first
    # run of the tests) and copied for each mutant, instead of running the pipeline again per mutant
    shop_cache = workdir / "shop-cache"
    shutil.rmtree(shop_cache, ignore_errors=True)
    shop_cache.mkdir()
    # the API tests' server runs in the test process, where mutmut sees what each test reaches
    environment = dict(
        os.environ,
        PYTHONPATH=str(workdir / "mutants"),
        OMP_NUM_THREADS="1",
        SHOP_PIPELINE_TEST_SERVER="in-process",
        SHOP_PIPELINE_TEST_SHOP_CACHE=str(shop_cache),
    )
    command = [str(ROOT / ".venv" / "bin" / "mutmut"), "run", "--max-children", str(children)]
    command.extend(mutant_globs)
    if survivors:
        names = undetected_mutants(workdir)
        if not names:
            print(f"== mutation group {group}: no surviving mutants to test again")
            return 0
        command.extend(names)
    print(f"== mutation group {group}: {', '.join(modules)} <- {', '.join(tests)}", flush=True)
    return subprocess.run(command, cwd=workdir, env=environment).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"groups to run (default: all): {', '.join(GROUPS)}")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once")
    parser.add_argument(
        "--mutants",
        action="append",
        default=[],
        help="only mutants whose name matches this glob (mutmut's syntax); repeat for several",
    )
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="test again only the mutants the last run did not kill (after adding tests)",
    )
    parser.add_argument(
        "--timeout-multiplier",
        type=float,
        help="mutmut's timeout_multiplier for this run (pyproject's otherwise): raise it when the machine is "
        "loaded well past its cores, where tests of unchanged code overrun the limit measured on the clean run",
    )
    args = parser.parse_args()
    check_groups_cover_configuration()
    unknown = sorted(set(args.groups) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; the groups are {', '.join(GROUPS)}")
    failed = []
    for group in args.groups or list(GROUPS):
        if run_group(group, args.children, args.mutants, args.survivors, args.timeout_multiplier) != 0:
            failed.append(group)
    if failed:
        print(f"mutmut failed in group(s): {', '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
