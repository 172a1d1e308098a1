"""Run loggers: one readable line per finished step, and Dagster's full log in a file.

`shop-pipeline run` turns the console logger down and these two on through run config
(`run_log_config`): a person reads the step lines and the summary, and the DEBUG stream (a
line per event, one per partition of a range) goes to `$SHOP_PIPELINE_HOME/logs/dagster.log`.
Both are off by default, so runs launched from the UI log as Dagster always does.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dagster import Field, InitLoggerContext, colored_console_logger, logger

from shop_pipeline.defs.skips import not_enough_data_reason

PROGRESS_LOGGER = "progress"
FILE_LOGGER = "log_file"
ROW_COUNT = "dagster/row_count"
REUSED_KEYS = ("reused_version", "reused")
# Dagster sets this attribute on the records it hands to a run's loggers (its event and step).
RECORD_METADATA = "dagster_meta"


@dataclass
class _StepFacts:
    started: float | None = None
    rows: dict[str, dict] = field(default_factory=dict)  # asset -> partition (None: unpartitioned) -> rows
    reused: set[str] = field(default_factory=set)
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)  # check -> (passed, severity)


def _metadata_value(metadata, key):
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def format_step_line(step: str, seconds: float | None, status: str, facts: _StepFacts, error: str = "") -> str:
    """`  clean_events           8.3 s  clean_events 199,637 rows  checks 2/2 passed` (and what failed)."""
    took = f"{seconds:6.1f} s" if seconds is not None else "      -  "
    parts = [f"  {step:<26} {took}  {status:<7}"]
    for asset, per_partition in facts.rows.items():
        rows = sum(per_partition.values())  # a range run reports each partition's own rows
        label = asset if asset != step else "rows"
        parts.append(f"{label} {rows:,}" + (" rows" if label != "rows" else ""))
    parts.extend(f"{asset} reused" for asset in sorted(facts.reused))
    if facts.checks:
        passed = sum(ok for ok, _ in facts.checks.values())
        text = f"checks {passed}/{len(facts.checks)} passed"
        failed = [f"{name} ({severity.lower()})" for name, (ok, severity) in facts.checks.items() if not ok]
        if failed:
            text += ", failed: " + ", ".join(failed)
        parts.append(text)
    if error:
        parts.append(error)
    return "  ".join(parts)


class _ProgressHandler(logging.Handler):
    """Collects each step's materializations and check results; prints a line when it ends."""

    def __init__(self, stream):
        super().__init__(level=logging.DEBUG)
        self.stream = stream
        self.steps: dict[str, _StepFacts] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event = (getattr(record, RECORD_METADATA, None) or {}).get("dagster_event")
        if event is None or not event.step_key:
            return
        facts = self.steps.setdefault(event.step_key, _StepFacts())
        if event.is_step_start:
            facts.started = record.created
        elif event.is_step_materialization:
            materialization = event.step_materialization_data.materialization
            asset = materialization.asset_key.to_user_string()
            rows = _metadata_value(materialization.metadata, ROW_COUNT)
            if rows is not None:
                facts.rows.setdefault(asset, {})[materialization.partition] = int(rows)
            if any(_metadata_value(materialization.metadata, key) is True for key in REUSED_KEYS):
                facts.reused.add(asset)
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.asset_check_evaluation_data
            facts.checks[evaluation.check_name] = (evaluation.passed, evaluation.severity.value)
        elif event.is_step_success:
            self._print(format_step_line(event.step_key, event.step_success_data.duration_ms / 1000, "ok", facts))
        elif event.is_step_failure:
            seconds = record.created - facts.started if facts.started else None
            reason = not_enough_data_reason(event)
            if reason is not None:  # a model the data cannot train: skipped with its reason, not broken
                self._print(format_step_line(event.step_key, seconds, "skipped", facts, reason[:300]))
            else:
                self._print(
                    format_step_line(
                        event.step_key, seconds, "FAILED", facts, (innermost_error(event).splitlines() or [""])[0][:300]
                    )
                )
        elif event.is_step_skipped:
            self._print(
                format_step_line(event.step_key, None, "skipped", facts, "(an upstream step or blocking check failed)")
            )

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


def innermost_error(event) -> str:
    """A failed step's innermost error: the user's exception, not Dagster's wrapper around it."""
    error = event.step_failure_data.error
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error else ""


@logger(
    config_schema={"enabled": Field(bool, default_value=False, description="print one line per finished step")},
    description="One readable line per finished step: seconds, rows written, checks passed and failed.",
)
def progress_logger(init_context: InitLoggerContext) -> logging.Logger:
    log = logging.Logger(PROGRESS_LOGGER, level=logging.DEBUG)
    if init_context.logger_config["enabled"]:
        log.addHandler(_ProgressHandler(sys.stdout))
    return log


@logger(
    config_schema={
        "path": Field(str, default_value="", description="append the run's Dagster log here (empty: off)"),
        "log_level": Field(str, default_value="DEBUG"),
    },
    description="Dagster's log of the run, appended to a file (the shop's logs/dagster.log when the CLI runs).",
)
def file_logger(init_context: InitLoggerContext) -> logging.Logger:
    log = logging.Logger(FILE_LOGGER, level=init_context.logger_config["log_level"].upper())
    path = init_context.logger_config["path"]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    return log


RUN_LOGGERS = {"console": colored_console_logger, PROGRESS_LOGGER: progress_logger, FILE_LOGGER: file_logger}


def run_log_config(log_file: Path | None, verbose: bool = False) -> dict:
    """Run config: step lines on stdout, Dagster's log in `log_file`, the console stream only if verbose."""
    return {
        "loggers": {
            "console": {"config": {"log_level": "DEBUG" if verbose else "CRITICAL"}},
            PROGRESS_LOGGER: {"config": {"enabled": not verbose}},
            FILE_LOGGER: {"config": {"path": str(log_file) if log_file else ""}},
        }
    }
