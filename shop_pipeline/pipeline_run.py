"""Running the whole pipeline in-process over every landed day, as one single-run backfill."""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass, field, replace

from dagster import AssetKey, DagsterInstance

from shop_pipeline.defs.run_logs import innermost_error
from shop_pipeline.defs.skips import not_enough_data_reason
from shop_pipeline.instance import HOST_TAG
from shop_pipeline.settings import PARTITIONS_START_ENV, ShopPaths, partition_bounds, record_partitions_start
from shop_pipeline.sources.landing import LandedFile, discover

# Dagster's documented run tags for a partition range (one run covers the whole range).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


SUCCESS, PARTIAL, FAILED = "success", "partial", "failed"


@dataclass(frozen=True)
class SkippedModel:
    """A model step the run skipped because the shop's data cannot train it (too short, too thin, a degenerate label window)."""

    step: str
    reason: str  # the NotEnoughData line
    not_written: tuple[str, ...] = ()  # selected assets downstream of it that the run did not write

    def describe(self) -> str:
        after = f" (not written: {', '.join(self.not_written)})" if self.not_written else ""
        return f"skipped {self.step}: {self.reason}{after}"


@dataclass
class PipelineOutcome:
    days: tuple[dt.date, dt.date] | None
    success: bool = False
    run_id: str | None = None
    error: str | None = None  # the real failures (not the skipped models); None when there is none
    checks: list[tuple[str, bool]] = field(default_factory=list)
    out_of_range: list[LandedFile] = field(default_factory=list)
    skipped: list[SkippedModel] = field(default_factory=list)

    @property
    def status(self) -> str:
        """success; partial: only models without enough data failed (every other table is written);
        failed: anything else went wrong."""
        if self.success:
            return SUCCESS
        return PARTIAL if self.skipped and self.error is None else FAILED


@dataclass(frozen=True)
class LandedDays:
    """The partition range a run covers, from the landed files' days."""

    first: dt.date | None
    last: dt.date | None
    out_of_range: list[LandedFile]  # dated before the first partition or after tomorrow: not in any run
    bounds: tuple[dt.date, dt.date]
    days: frozenset[dt.date] = frozenset()  # the landed files' days inside the bounds (their months are the partitions)

    @property
    def span(self) -> tuple[dt.date, dt.date] | None:
        return (self.first, self.last) if self.first else None


def landed_days(paths: ShopPaths, today: dt.date | None = None) -> LandedDays:
    """The span of the landed files' days that are partitions; the files dated outside it.

    The first run (or import) records the first landed day as the shop's first partition, so
    the partitions follow the data; a file dated in the far future (`events_2099-01-01.csv`)
    or before the first partition is left out of the range (raw_events records it as failed,
    with the reason) instead of stretching the run over decades.
    """
    files = discover(paths.landing)
    plausible = [f.day for f in files if f.day <= partition_bounds(today)[1]]
    if plausible:
        record_partitions_start(paths, min(plausible))
    low, high = partition_bounds(today)  # the first partition as recorded now
    inside = [f.day for f in files if low <= f.day <= high]
    outside = [f for f in files if not low <= f.day <= high]
    return LandedDays(min(inside, default=None), max(inside, default=None), outside, (low, high), frozenset(inside))


def describe_out_of_range(days: LandedDays) -> str:
    low, high = days.bounds
    names = ", ".join(f"{f.relative} ({f.day})" for f in days.out_of_range[:5])
    more = f" and {len(days.out_of_range) - 5} more" if len(days.out_of_range) > 5 else ""
    return (
        f"{len(days.out_of_range)} landed file(s) dated outside the partitions {low} .. {high} are not ingested: "
        f"{names}{more}. Rename a misdated file, or set {PARTITIONS_START_ENV} to move the first partition back."
    )


def modeling_run_config(
    as_of: str | None = None,
    forecast_horizon_days: int | None = None,
    propensity_horizon_days: int | None = None,
    recommendation_recency_days: int | None = None,
) -> dict:
    """Run configuration of the Modeling resource (only what was given)."""
    config = {
        key: value
        for key, value in {
            "as_of": as_of,
            "forecast_horizon_days": forecast_horizon_days,
            "propensity_horizon_days": propensity_horizon_days,
            "recommendation_recency_days": recommendation_recency_days,
        }.items()
        if value is not None
    }
    return {"resources": {"modeling": {"config": config}}} if config else {}


def run_full_pipeline(
    paths: ShopPaths,
    instance: DagsterInstance,
    run_config: dict | None = None,
    groups: list[str] | None = None,
    log_config: dict | None = None,
    landed: LandedDays | None = None,
) -> PipelineOutcome:
    """Materialize every landed day in one run: all assets, or only those of `groups`.

    `log_config` is run config for the run's loggers (`defs.run_logs.run_log_config`).
    """
    landed = landed or landed_days(paths)
    # imported here: the definitions load every stage
    from shop_pipeline.definitions import build_definitions
    from shop_pipeline.defs.common import EVENT_PARTITIONS_NAME, add_partitions

    day_range = landed.span
    if day_range is None:
        return PipelineOutcome(days=None, out_of_range=landed.out_of_range)
    # every landed month is a partition; the run covers them all (a month is read only where its
    # files changed), in the order they were added: a range of dynamic partitions is by that order
    add_partitions(instance, landed.days)
    months = instance.get_dynamic_partitions(EVENT_PARTITIONS_NAME)
    definitions = build_definitions(paths)
    job = definitions.resolve_job_def("full_pipeline")
    selection = None
    if groups:
        graph = definitions.resolve_asset_graph()
        selection = [key for key in graph.get_all_asset_keys() if graph.get(key).group_name in groups]
    result = job.execute_in_process(
        asset_selection=selection,
        run_config={**(run_config or {}), **(log_config or {})},
        instance=instance,
        raise_on_error=False,
        tags={RANGE_START_TAG: months[0], RANGE_END_TAG: months[-1], HOST_TAG: socket.gethostname()},
    )
    checks = [
        (f"{e.asset_key.to_user_string()}:{e.check_name}", e.passed) for e in result.get_asset_check_evaluations()
    ]
    error, skipped = None, []
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        reasons = {e.step_key: not_enough_data_reason(e) for e in failures}
        real = [e for e in failures if reasons[e.step_key] is None]
        written = {e.asset_key for e in result.get_asset_materialization_events()}
        graph = definitions.resolve_asset_graph()
        selected = set(selection) if selection else graph.get_all_asset_keys()
        skipped = [
            SkippedModel(step, reason, _not_written(graph, AssetKey(step), selected, written))
            for step, reason in reasons.items()
            if reason is not None
        ]
        if real or not skipped:
            error = "; ".join(f"{e.step_key}: {innermost_error(e)}" for e in real) or "run failed"
        elif (
            SNAPSHOT in selected
            and SNAPSHOT not in written
            and _publish_snapshot_alone(job, instance, run_config, log_config)
        ):
            # the models that could train still reach the online API (the snapshot depends on every score
            # table, so Dagster skipped it in the run itself)
            skipped = [
                replace(m, not_written=tuple(a for a in m.not_written if a != SNAPSHOT.to_user_string()))
                for m in skipped
            ]
    return PipelineOutcome(
        days=day_range,
        success=result.success,
        run_id=result.run_id,
        error=error,
        checks=checks,
        out_of_range=landed.out_of_range,
        skipped=skipped,
    )


SNAPSHOT = AssetKey("serving_snapshot")


def _publish_snapshot_alone(job, instance: DagsterInstance, run_config: dict | None, log_config: dict | None) -> bool:
    """After a partial run: the serving snapshot of what was scored, in a run of its own."""
    result = job.execute_in_process(
        asset_selection=[SNAPSHOT],
        run_config={**(run_config or {}), **(log_config or {})},
        instance=instance,
        raise_on_error=False,
        tags={HOST_TAG: socket.gethostname()},
    )
    return result.success


def _not_written(graph, key: AssetKey, selected, written) -> tuple[str, ...]:
    """The selected assets downstream of `key` that the run did not write (Dagster ran none of them)."""
    if not graph.has(key):  # a step of several assets: not a model step
        return ()
    seen: set[AssetKey] = set()
    pending = list(graph.get(key).child_keys)
    while pending:
        child = pending.pop()
        if child not in seen:
            seen.add(child)
            pending.extend(graph.get(child).child_keys)
    return tuple(sorted(k.to_user_string() for k in seen if k in selected and k not in written))
