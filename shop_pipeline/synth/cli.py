"""Command line for the generator; shop-pipeline's `generate` subcommand reuses these functions."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from shop_pipeline.synth.config import DEFECT_MODES, FORMATS, PROFILES, GeneratorConfig
from shop_pipeline.synth.generate import generate_shop

HOME_ENV = "SHOP_PIPELINE_HOME"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from exc


def add_generate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--events", type=_positive_int, default=200_000, help="number of events (default 200000)")
    parser.add_argument("--days", type=_positive_int, default=90, help="number of daily files (default 90)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed, same bytes (default 42)")
    parser.add_argument(
        "--start", type=_date, default=dt.date(2025, 1, 1), help="first day, YYYY-MM-DD (default 2025-01-01)"
    )
    parser.add_argument("--format", choices=FORMATS, default="csv", help="event file format (default csv)")
    parser.add_argument(
        "--defects", choices=DEFECT_MODES, default="default", help="plant data defects (default) or none"
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="default",
        help="shop shape (default: default). grocery: staples bought again on personal cycles of 1-3 weeks, "
        "in baskets, over a long-tail catalog (~40%% of the events); cohort: customers acquired before the "
        "start or in its first 10%% of days, then only repeat buyers stay, so daily sales decay",
    )
    parser.add_argument(
        "--products",
        type=_positive_int,
        default=None,
        help="catalog size, at least 50 (default: events / 200, within 50..20000)",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help=f"shop home to write under (default: ${HOME_ENV}, else ./data)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> GeneratorConfig:
    return GeneratorConfig(
        events=args.events,
        days=args.days,
        seed=args.seed,
        start=args.start,
        format=args.format,
        defects=args.defects,
        profile=getattr(args, "profile", "default"),
        products=getattr(args, "products", None),
    )


def run_generate(args: argparse.Namespace) -> int:
    home = args.home if args.home is not None else Path(os.environ.get(HOME_ENV, "data"))
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = generate_shop(home, config)
    print(summary.describe())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shop_pipeline.synth",
        description="Generate a sample shop: daily event files with planted defects, catalog, "
        "marketing files and ground truth, all under the shop home.",
    )
    add_generate_arguments(parser)
    return run_generate(parser.parse_args(argv))
