"""The `shop-pipeline` command: generate a sample shop, run the pipeline, open the UI."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from shop_pipeline.settings import HOME_ENV, ShopPaths


def _paths(args) -> ShopPaths:
    if getattr(args, "home", None):
        os.environ[HOME_ENV] = str(Path(args.home).resolve())
    return ShopPaths.from_env().ensure()


def _add_window_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as-of", help="cut-off day YYYY-MM-DD: nothing after it influences features, models or scores "
                        "(default: the last complete day landed)")
    parser.add_argument("--forecast-horizon-days", type=int, help="days to forecast (default 14)")
    parser.add_argument("--propensity-horizon-days", type=int, help="purchase window of the propensity label (default 30)")
    parser.add_argument("--groups", help="only these asset groups, comma-separated (e.g. ingestion,staging)")


def run_pipeline(paths: ShopPaths, args: argparse.Namespace | None = None) -> int:
    """Materialize everything that has landed: all partitions, one in-process run."""
    from dagster import DagsterInstance

    from shop_pipeline.instance import ensure_dagster_home
    from shop_pipeline.pipeline_run import run_full_pipeline, window_run_config
    from shop_pipeline.summary import format_summary, warehouse_summary

    ensure_dagster_home(paths)
    started = time.perf_counter()
    with DagsterInstance.get() as instance:
        run_config = window_run_config(
            getattr(args, "as_of", None),
            getattr(args, "forecast_horizon_days", None),
            getattr(args, "propensity_horizon_days", None),
        )
        groups = [g.strip() for g in args.groups.split(",")] if getattr(args, "groups", None) else None
        outcome = run_full_pipeline(paths, instance, run_config, groups=groups)
    if outcome.days is None:
        print(f"nothing has landed in {paths.events_landing}; run `shop-pipeline generate` first")
        return 1
    print(format_summary(warehouse_summary(paths.warehouse), outcome.checks, time.perf_counter() - started))
    if not outcome.success:
        print(f"\nrun {outcome.run_id} FAILED: {outcome.error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    from shop_pipeline.synth.cli import add_generate_arguments, run_generate

    parser = argparse.ArgumentParser(prog="shop-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a sample shop into $SHOP_PIPELINE_HOME/landing")
    add_generate_arguments(generate)

    run = commands.add_parser("run", help="ingest, stage and validate everything that has landed (in-process)")
    run.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")
    _add_window_arguments(run)

    demo = commands.add_parser("demo", help="generate a sample shop if nothing has landed, then run")
    add_generate_arguments(demo)
    _add_window_arguments(demo)

    imp = commands.add_parser("import", help="convert shop data of a public format into landing files")
    imp.add_argument("--format", required=True, help="rees46, cdnow, online_retail, retailrocket or generic")
    imp.add_argument("paths", nargs="+", metavar="PATH",
                     help="source files (CSV; online_retail also .xlsx; retailrocket also item-properties and "
                          "category-tree files, recognised by their header)")
    imp.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")
    imp.add_argument("--mapping", help="YAML column mapping (format generic)")

    ui = commands.add_parser("ui", help="start the Dagster UI and daemon (dagster dev) on this shop")
    ui.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")
    ui.add_argument("--port", type=int, default=3000)

    args = parser.parse_args(argv)
    if args.command == "generate":
        return run_generate(args)
    paths = _paths(args)
    if args.command == "run":
        return run_pipeline(paths, args)
    if args.command == "demo":
        if not any(paths.events_landing.glob("*")):
            code = run_generate(args)
            if code:
                return code
        else:
            print(f"landing folder {paths.events_landing} is not empty: running on what is there")
        return run_pipeline(paths, args)
    if args.command == "import":
        from shop_pipeline.sources.importer import run_import

        return run_import(paths, args.format, args.paths, args.mapping)
    if args.command == "ui":
        from shop_pipeline.instance import ensure_dagster_home

        ensure_dagster_home(paths)
        workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
        # this interpreter's dagster: `.venv/bin/shop-pipeline ui` works without an activated venv
        command = [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(args.port)]
        if workspace.is_file():
            command += ["-w", str(workspace)]
        else:
            command += ["-m", "shop_pipeline.definitions"]
        return subprocess.call(command)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
