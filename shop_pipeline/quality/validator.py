"""Running a suite on a pandas frame and reading the result as a person would.

GX is imported lazily (the import costs seconds) with analytics and progress bars off.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pandas as pd


@dataclass
class FailedExpectation:
    batch: str
    expectation: str
    column: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    examples: list[Any]
    observed: Any = None


@dataclass
class SuiteOutcome:
    suite: str
    batches: int = 0
    rows: int = 0
    expectations_evaluated: int = 0
    failures: list[FailedExpectation] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failures

    def to_markdown(self, limit: int = 30) -> str:
        if self.success:
            return f"All {self.expectations_evaluated} expectations of `{self.suite}` passed on {self.batches} batch(es), {self.rows} rows."
        lines = [
            f"**{len(self.failures)} failed expectation(s)** of `{self.suite}`",
            "",
            "| batch | expectation | column | unexpected | % | examples |",
            "|---|---|---|---|---|---|",
        ]
        for f in self.failures[:limit]:
            examples = (
                ", ".join(repr(e) for e in f.examples[:5])
                if f.examples
                else (repr(f.observed) if f.observed is not None else "")
            )
            pct = "" if f.unexpected_percent is None else f"{f.unexpected_percent:.3f}"
            lines.append(
                f"| {f.batch} | {f.expectation} | {f.column or ''} | {f.unexpected_count if f.unexpected_count is not None else ''} | {pct} | {examples.replace('|', '/')} |"
            )
        if len(self.failures) > limit:
            lines.append(f"\n... and {len(self.failures) - limit} more")
        return "\n".join(lines)


_context_lock = threading.Lock()
_context = None


def gx_context():
    """The process's ephemeral GX context (suites can only be built once one exists)."""
    global _context
    with _context_lock:
        if _context is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            _context = context
        return _context


def warm_up() -> None:
    """Import GX and make its context in a background thread (seconds of imports that can
    overlap a step's DuckDB work, which releases the GIL); gx_context() then waits for it."""
    if _context is None and not _context_lock.locked():
        threading.Thread(target=gx_context, name="gx-warm-up", daemon=True).start()


def expectations_module():
    """great_expectations.expectations, once the process's GX context exists."""
    gx_context()
    import great_expectations.expectations as gxe

    return gxe


class SuiteDraft:
    """The expectations of a suite being written; `build()` makes the GX suite in one step.

    ExpectationSuite.add_expectation compares each new expectation with every one added before
    it (pydantic dicts of both sides): quadratic, a quarter of a daily run's validation time.
    A draft collects them in order and refuses a duplicate by one key per expectation instead.
    """

    def __init__(self, name: str):
        self.name = name
        self.expectations: list = []
        self._keys: set[str] = set()

    def add_expectation(self, expectation):
        key = type(expectation).__name__ + expectation.json(exclude={"id", "rendered_content", "notes", "meta"})
        if key in self._keys:
            raise ValueError(f"suite {self.name} already has {key}")
        self._keys.add(key)
        self.expectations.append(expectation)
        return expectation

    def build(self, meta: dict | None = None):
        gx_context()
        import great_expectations as gx

        return gx.ExpectationSuite(name=self.name, expectations=self.expectations, meta=meta)


@cache
def _batch_definition():
    context = gx_context()
    asset = context.data_sources.add_pandas("shop_frames").add_dataframe_asset("batch")
    return context, asset.add_batch_definition_whole_dataframe("whole_frame")


def validate_frame(
    frame: pd.DataFrame, suite, batch_name: str, outcome: SuiteOutcome, count_rows: bool = True
) -> SuiteOutcome:
    """Validate one batch and add its failures to `outcome` (one outcome may span many batches)."""
    # The suite is validated as built, never saved to the context: once a suite of that name is
    # saved, every add_expectation on a new copy re-serializes the stored suite (quadratic time).
    _, batch_definition = _batch_definition()
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    # Pass/fail first: BOOLEAN_ONLY skips collecting unexpected values (2-3x faster). Only a
    # failing batch is validated again for the counts and examples a person reads.
    result = batch.validate(suite, result_format="BOOLEAN_ONLY")
    if not result.success:
        result = batch.validate(suite, result_format="SUMMARY")
    if count_rows:
        outcome.batches += 1
        outcome.rows += len(frame)
    outcome.expectations_evaluated += len(result.results)
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        details = item.result or {}
        examples = [c.get("value") for c in details.get("partial_unexpected_counts", [])] or details.get(
            "partial_unexpected_list", []
        )
        outcome.failures.append(
            FailedExpectation(
                batch=batch_name,
                expectation=config.type,
                column=config.kwargs.get("column"),
                unexpected_count=details.get("unexpected_count"),
                unexpected_percent=details.get("unexpected_percent"),
                examples=[_plain(e) for e in examples],
                observed=_plain(details.get("observed_value")),
            )
        )
    return outcome


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
