"""The `shop-pipeline` command: generate a sample shop, run the pipeline, open the UI.

Exit codes of `run` and `demo`: 0 every selected asset was written; 3 partial: the shop's data
cannot train some models (too short, too thin, a label window where everybody or nobody bought),
which were skipped (one line each: `skipped <model step>:
<reason>`) with what depends on them, and every other table was written; 1 a real failure (its
traceback is in logs/dagster.log); 2 the command line or the cut-off was refused before any
work; 128 + N interrupted by signal N.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from shop_pipeline.settings import HOME_ENV, ShopPaths

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_CODES_HELP = (
    "exit codes: 0 done; 3 partial (models the data cannot train were skipped, one line each with the reason, every other "
    "table written); 1 failed (traceback in logs/dagster.log); 2 bad arguments; 128+N interrupted by signal N"
)


def _paths(args) -> ShopPaths:
    if getattr(args, "home", None):
        os.environ[HOME_ENV] = str(Path(args.home).resolve())
    return ShopPaths.from_env().ensure()


# The asset groups of the definitions (tests/test_definitions.py keeps the two in step).
ASSET_GROUPS = ("ingestion", "staging", "features", "training", "evaluation", "scoring", "monitoring")


def _day(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day YYYY-MM-DD") from None


def _positive(unit: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {unit}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{value} {unit}: must be at least 1")
        return value

    return parse


_positive_days = _positive("days")


def _groups(text: str) -> list[str]:
    groups = [g.strip() for g in text.split(",") if g.strip()]
    unknown = [g for g in groups if g not in ASSET_GROUPS]
    if unknown or not groups:
        raise argparse.ArgumentTypeError(
            f"unknown group(s) {', '.join(unknown) or '(none given)'}; the groups are {', '.join(ASSET_GROUPS)}"
        )
    return groups


def _add_window_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of",
        type=_day,
        help="cut-off day YYYY-MM-DD: nothing after it influences features, models or scores "
        "(default: the last complete day landed)",
    )
    parser.add_argument("--forecast-horizon-days", type=_positive_days, help="days to forecast (default 14)")
    parser.add_argument(
        "--propensity-horizon-days", type=_positive_days, help="purchase window of the propensity label (default 30)"
    )
    parser.add_argument(
        "--recommendation-recency-days",
        type=_positive_days,
        help="recommend only to customers with an interaction in the N days before the cut-off "
        "(default: every customer with any interaction)",
    )
    parser.add_argument(
        "--groups", type=_groups, help="only these asset groups, comma-separated (e.g. ingestion,staging)"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="stream Dagster's own log instead of one line per step (it always goes to logs/dagster.log)",
    )


@contextlib.contextmanager
def _warnings_to(log_file: Path | None):
    """Library warnings (Dagster's beta notices, GX) go to the run's log file, not the terminal."""
    if log_file is None:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s WARNING %(message)s"))
    warnings_log = logging.getLogger("py.warnings")
    warnings_log.addHandler(handler)
    propagate, warnings_log.propagate = warnings_log.propagate, False
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        warnings_log.propagate = propagate
        warnings_log.removeHandler(handler)
        handler.close()


def _check_as_of(as_of: str | None, span: tuple[dt.date, dt.date]) -> str | None:
    """Why the cut-off cannot be used with the landed days, or None."""
    if as_of is None:
        return None
    day = dt.date.fromisoformat(as_of)
    if not span[0] <= day <= span[1]:
        return f"--as-of {as_of} is outside the landed days {span[0]} .. {span[1]}"
    return None


def run_pipeline(paths: ShopPaths, args: argparse.Namespace | None = None) -> int:
    """Materialize everything that has landed: all partitions, one in-process run."""
    from shop_pipeline.instance import ensure_dagster_home
    from shop_pipeline.pipeline_run import describe_out_of_range, landed_days, modeling_run_config
    from shop_pipeline.pseudonyms import PrivacyKeyError, pseudonymiser_from_env

    started = time.perf_counter()
    from shop_pipeline.warehouse.encryption import check_key

    try:
        pseudonymiser_from_env()  # a key setting that cannot be used is refused before any work
        check_key(paths.warehouse)
    except PrivacyKeyError as exc:
        print(f"shop-pipeline run: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    verbose = bool(getattr(args, "verbose", False))
    log_file = paths.logs / "dagster.log"
    landed = landed_days(paths)
    if landed.out_of_range:
        print(describe_out_of_range(landed))
    if landed.span is None:
        print(f"nothing has landed in {paths.events_landing}; run `shop-pipeline generate` first")
        return EXIT_FAILED
    problem = _check_as_of(getattr(args, "as_of", None), landed.span)
    if problem:
        print(f"shop-pipeline run: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    ensure_dagster_home(paths)
    run_config = modeling_run_config(
        getattr(args, "as_of", None),
        getattr(args, "forecast_horizon_days", None),
        getattr(args, "propensity_horizon_days", None),
        getattr(args, "recommendation_recency_days", None),
    )
    groups = getattr(args, "groups", None)
    first, last = landed.span
    print(
        f"running {'groups ' + ','.join(groups) if groups else 'every asset'} over {first} .. {last} "
        f"({(last - first).days + 1} days); Dagster's log: {log_file}",
        flush=True,
    )
    with _warnings_to(None if verbose else log_file):
        return _execute(paths, run_config, groups, log_file, verbose, started, landed)


def _execute(paths: ShopPaths, run_config: dict, groups, log_file: Path, verbose: bool, started: float, landed) -> int:
    from dagster import DagsterInstance

    from shop_pipeline.defs.common import DUCKDB_POOL
    from shop_pipeline.defs.run_logs import run_log_config
    from shop_pipeline.instance import pool_holders, recover_dead_runs
    from shop_pipeline.pipeline_run import run_full_pipeline
    from shop_pipeline.summary import format_summary, warehouse_summary

    with DagsterInstance.get() as instance, _signals_seen() as seen:
        for line in recover_dead_runs(instance):
            print(line, flush=True)
        holders = pool_holders(instance, DUCKDB_POOL)
        if holders:
            print(
                f"waiting for the {DUCKDB_POOL} pool (one DuckDB writer at a time), held by: {'; '.join(holders)}",
                flush=True,
            )
        outcome = run_full_pipeline(
            paths, instance, run_config, groups=groups, log_config=run_log_config(log_file, verbose), landed=landed
        )
    print(
        format_summary(
            warehouse_summary(paths.warehouse),
            outcome.checks,
            time.perf_counter() - started,
            skipped=[model.describe() for model in outcome.skipped],
        )
    )
    return _exit_code(outcome, seen, log_file)


def _exit_code(outcome, seen: set[int], log_file: Path) -> int:
    """The command's verdict on a run (codes in the module docstring), said in one line on stderr."""
    from shop_pipeline.pipeline_run import PARTIAL, SUCCESS

    if seen:
        names = ", ".join(signal.Signals(s).name for s in sorted(seen))
        print(
            f"\ninterrupted by {names}: run {outcome.run_id} did not finish as asked (details: {log_file})",
            file=sys.stderr,
        )
        return 128 + max(seen)
    if outcome.status == SUCCESS:
        return EXIT_OK
    if outcome.status == PARTIAL:
        skipped = "; ".join(f"{model.step} ({model.reason})" for model in outcome.skipped)
        print(
            f"\nrun {outcome.run_id} PARTIAL: the data cannot train every model, skipped: {skipped}; every other "
            f"table is written (exit {EXIT_PARTIAL}; details: {log_file})",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    print(f"\nrun {outcome.run_id} FAILED: {outcome.error}\n(traceback and details: {log_file})", file=sys.stderr)
    return EXIT_FAILED


def run_retract(paths: ShopPaths, path: str) -> int:
    """`shop-pipeline retract PATH`: 0 and what was removed, or 1 and why nothing was."""
    from shop_pipeline.warehouse.connection import connect
    from shop_pipeline.warehouse.retract import NotIngested, landing_relative, retract

    if not paths.warehouse.is_file():
        print(f"shop-pipeline retract: no warehouse at {paths.warehouse}", file=sys.stderr)
        return 1
    name = landing_relative(path, paths.landing)
    try:
        with connect(paths.warehouse) as con:
            done = retract(con, name, log_file=paths.logs / "retractions.jsonl")
    except NotIngested as exc:
        print(f"shop-pipeline retract: nothing removed: {exc}", file=sys.stderr)
        return 1
    print(done.describe())
    return 0


def run_forget(paths: ShopPaths, args: argparse.Namespace) -> int:
    """`shop-pipeline forget`: 0 and what was erased, or 1 and why nothing was (no id ever printed)."""
    from shop_pipeline.forget import forget, read_customers_file
    from shop_pipeline.pseudonyms import PrivacyKeyError

    ids = list(args.customer or [])
    try:
        for name in args.customers_file or []:
            ids += read_customers_file(name)
        done = forget(paths, ids, request_id=args.request_id)
    except (ValueError, OSError) as exc:  # PrivacyKeyError is a ValueError
        kind = "key" if isinstance(exc, PrivacyKeyError) else "request"
        print(f"shop-pipeline forget: nothing erased ({kind}): {exc}", file=sys.stderr)
        return 1
    print(done.describe())
    return 0


def run_purge_expired(paths: ShopPaths, args: argparse.Namespace) -> int:
    """`shop-pipeline purge-expired`: 0 and what was purged, or 1 and why nothing was."""
    from shop_pipeline.retention import purge_expired, retention_days_from_env
    from shop_pipeline.settings import RETENTION_DAYS_ENV

    try:
        days = args.retention_days or retention_days_from_env()
        if days is None:
            raise ValueError(f"no retention period: give --retention-days N or set {RETENTION_DAYS_ENV}")
        done = purge_expired(paths, days)
    except (ValueError, OSError) as exc:
        print(f"shop-pipeline purge-expired: nothing purged: {exc}", file=sys.stderr)
        return 1
    print(done.describe())
    return 0


def run_rotate_pseudonym_key(paths: ShopPaths, args: argparse.Namespace) -> int:
    """`shop-pipeline rotate-pseudonym-key --new-key-file NEW`: 0 and what was re-keyed, or 1 and why
    nothing was (no id and no key ever printed)."""
    from shop_pipeline.forget import read_customers_file
    from shop_pipeline.pseudonyms import PrivacyKeyError, Pseudonymiser, read_key_file
    from shop_pipeline.rotate_key import rotate_pseudonym_key

    try:
        new = Pseudonymiser(read_key_file(args.new_key_file, "--new-key-file"))
        erased = [i for name in args.erased_customers_file or [] for i in read_customers_file(name)]
        done = rotate_pseudonym_key(paths, new, erased)
    except (ValueError, OSError) as exc:  # PrivacyKeyError is a ValueError
        kind = "key" if isinstance(exc, PrivacyKeyError) else "request"
        print(f"shop-pipeline rotate-pseudonym-key: nothing changed ({kind}): {exc}", file=sys.stderr)
        return 1
    print(done.describe())
    return 0


def run_export_scores(paths: ShopPaths, args: argparse.Namespace) -> int:
    """`shop-pipeline export-scores --out FILE`: 0 and how many rows, or 1 and why nothing was written."""
    from shop_pipeline.reidentify import export_scores

    try:
        done = export_scores(paths, Path(args.out), args.min_churn_risk)
    except (ValueError, OSError) as exc:  # PrivacyKeyError is a ValueError
        print(f"shop-pipeline export-scores: nothing written: {exc}", file=sys.stderr)
        return 1
    print(done.describe())
    return 0


def run_encrypt_warehouse(paths: ShopPaths, key_file: str) -> int:
    """`shop-pipeline encrypt-warehouse --key-file NEW`: the warehouse rewritten under the key in NEW
    (read with $SHOP_PIPELINE_WAREHOUSE_KEY_FILE's key when set); 0, or 1 and why nothing changed."""
    from shop_pipeline.pseudonyms import PrivacyKeyError, read_key_file
    from shop_pipeline.warehouse.encryption import WAREHOUSE_KEY_FILE_ENV, check_key, warehouse_key
    from shop_pipeline.warehouse.erase import compact

    if not paths.warehouse.is_file():
        print(f"shop-pipeline encrypt-warehouse: no warehouse at {paths.warehouse}", file=sys.stderr)
        return 1
    try:
        check_key(paths.warehouse)
        new_key = read_key_file(key_file, "--key-file").decode("utf-8")
        compact(paths.warehouse, warehouse_key(), new_key)
    except (PrivacyKeyError, OSError) as exc:
        print(f"shop-pipeline encrypt-warehouse: nothing changed: {exc}", file=sys.stderr)
        return 1
    print(
        f"the warehouse {paths.warehouse} is now encrypted with the key in {key_file}: "
        f"set {WAREHOUSE_KEY_FILE_ENV}={key_file} for every command, the UI and the daemon"
    )
    return 0


@contextlib.contextmanager
def _signals_seen():
    """The SIGINT / SIGTERM numbers that arrived meanwhile, whatever handler Dagster installed.

    Dagster replaces the signal handlers during a run and can swallow an interrupt (raised
    inside a GC callback, the run still ends SUCCESS); the wakeup fd sees every signal that
    reaches a Python handler, so the command still exits non-zero.
    """
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    seen: set[int] = set()
    try:
        yield seen
    finally:
        signal.set_wakeup_fd(previous)
        with contextlib.suppress(BlockingIOError):
            while data := reader.recv(4096):
                seen.update(n for n in data if n in (signal.SIGINT, signal.SIGTERM))
        reader.close()
        writer.close()


def main(argv: list[str] | None = None) -> int:
    from shop_pipeline.synth.cli import add_generate_arguments, run_generate

    # The shop's data is customer data: what this command (and the `dagster dev` it starts)
    # creates is readable by its owner only (files 0600, folders 0700).
    os.umask(0o077)

    parser = argparse.ArgumentParser(prog="shop-pipeline", description=__doc__.split("\n\n")[0], epilog=EXIT_CODES_HELP)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a sample shop into $SHOP_PIPELINE_HOME/landing")
    add_generate_arguments(generate)

    run = commands.add_parser(
        "run", help="ingest, stage and validate everything that has landed (in-process)", epilog=EXIT_CODES_HELP
    )
    run.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")
    _add_window_arguments(run)

    demo = commands.add_parser(
        "demo", help="generate a sample shop if nothing has landed, then run", epilog=EXIT_CODES_HELP
    )
    add_generate_arguments(demo)
    _add_window_arguments(demo)

    imp = commands.add_parser("import", help="convert shop data of a public format into landing files")
    imp.add_argument("--format", required=True, help="rees46, cdnow, online_retail, retailrocket or generic")
    imp.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="source files (CSV; online_retail also .xlsx; retailrocket also item-properties and "
        "category-tree files, recognised by their header)",
    )
    imp.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")
    imp.add_argument("--mapping", help="YAML column mapping (format generic)")

    retract = commands.add_parser("retract", help="remove a landed file's events from the warehouse (logged)")
    retract.add_argument(
        "path", metavar="PATH", help="the file: its path in the landing folder (events/...) or on disk"
    )
    retract.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")

    forget_ = commands.add_parser(
        "forget",
        help="erase customers from every layer: warehouse, landing files, snapshot, logs (docs/privacy.md)",
    )
    forget_.add_argument("--customer", action="append", metavar="ID", help="a customer id as landed (repeatable)")
    forget_.add_argument("--customers-file", action="append", metavar="FILE", help="a file of customer ids, one a line")
    forget_.add_argument(
        "--request-id", help="the erasure request's id for the audit log (default: derived from the ids)"
    )
    forget_.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")

    purge = commands.add_parser(
        "purge-expired",
        help="remove events older than the retention period from every layer (what retention_schedule runs; "
        "docs/privacy.md)",
    )
    purge.add_argument(
        "--retention-days", type=_positive_days, help="keep this many days (default $SHOP_PIPELINE_RETENTION_DAYS)"
    )
    purge.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")

    rotate = commands.add_parser(
        "rotate-pseudonym-key",
        help="re-pseudonymise every layer from the key set now to a new one (docs/privacy.md)",
    )
    rotate.add_argument("--new-key-file", required=True, help="the new pseudonym key's file (0600)")
    rotate.add_argument(
        "--erased-customers-file",
        action="append",
        metavar="FILE",
        help="the ids of every erasure request so far, one a line (their tombstones are re-keyed from them)",
    )
    rotate.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")

    export = commands.add_parser(
        "export-scores",
        help="customer scores with the real customer ids (re-identified through the encrypted lookup; docs/privacy.md)",
    )
    export.add_argument("--out", required=True, help="the CSV to write (owner-only), outside the shop home")
    export.add_argument("--min-churn-risk", type=float, help="only customers with at least this churn risk (0..1)")
    export.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")

    encrypt = commands.add_parser(
        "encrypt-warehouse",
        help="rewrite the warehouse encrypted with a new key (or change its key; docs/privacy.md)",
    )
    encrypt.add_argument("--key-file", required=True, help="the new key's file (0600)")
    encrypt.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")

    ui = commands.add_parser("ui", help="start the Dagster UI and daemon (dagster dev) on this shop")
    ui.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")
    ui.add_argument("--port", type=int, default=3000)

    serve = commands.add_parser("serve", help="start the online prediction API over the last run's serving snapshot")
    serve.add_argument("--home", help=f"shop state folder (default ${HOME_ENV} or ./data)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (another than loopback needs a token)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--token-file", help="file holding the bearer token (else $SHOP_PIPELINE_SERVE_TOKEN)")
    serve.add_argument(
        "--workers",
        type=_positive("processes"),
        default=1,
        metavar="N",
        help="server processes (default 1; order risk uses a core per process)",
    )

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
    if args.command == "retract":
        return run_retract(paths, args.path)
    privacy_commands = {
        "forget": run_forget,
        "purge-expired": run_purge_expired,
        "rotate-pseudonym-key": run_rotate_pseudonym_key,
        "export-scores": run_export_scores,
    }
    if args.command in privacy_commands:
        return privacy_commands[args.command](paths, args)
    if args.command == "encrypt-warehouse":
        return run_encrypt_warehouse(paths, args.key_file)
    if args.command == "serve":
        from shop_pipeline.serving.server import ServeConfigError
        from shop_pipeline.serving.server import serve as start_server

        try:
            start_server(paths.home, host=args.host, port=args.port, token_file=args.token_file, workers=args.workers)
        except (ServeConfigError, OSError) as exc:
            print(f"shop-pipeline serve: {exc}", file=sys.stderr)
            return 2
        return 0
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
