"""Running the whole pipeline in-process over every landed day, as one single-run backfill."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from dagster import DagsterInstance

from shop_pipeline.settings import PARTITIONS_START_ENV, ShopPaths, partitions_start
from shop_pipeline.sources.landing import discover

# Dagster's documented run tags for a partition range (one run covers the whole range).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class PipelineOutcome:
    days: tuple[dt.date, dt.date] | None
    success: bool = False
    run_id: str | None = None
    error: str | None = None
    checks: list[tuple[str, bool]] = field(default_factory=list)


def landed_day_range(paths: ShopPaths) -> tuple[dt.date, dt.date] | None:
    days = [f.day for f in discover(paths.landing)]
    if not days:
        return None
    first, last = min(days), max(days)
    start = dt.date.fromisoformat(partitions_start())
    if first < start:
        raise SystemExit(
            f"landed files go back to {first}, before the first partition {start}; "
            f"set {PARTITIONS_START_ENV}={first} and run again"
        )
    return first, last


def window_run_config(as_of: str | None = None, forecast_horizon_days: int | None = None,
                      propensity_horizon_days: int | None = None) -> dict:
    """Run configuration of the ModelingWindow resource (only what was given)."""
    config = {
        key: value
        for key, value in {
            "as_of": as_of,
            "forecast_horizon_days": forecast_horizon_days,
            "propensity_horizon_days": propensity_horizon_days,
        }.items()
        if value is not None
    }
    return {"resources": {"window": {"config": config}}} if config else {}


def run_full_pipeline(
    paths: ShopPaths, instance: DagsterInstance, run_config: dict | None = None, groups: list[str] | None = None
) -> PipelineOutcome:
    """Materialize every landed day in one run: all assets, or only those of `groups`."""
    from shop_pipeline.definitions import build_definitions

    day_range = landed_day_range(paths)
    if day_range is None:
        return PipelineOutcome(days=None)
    definitions = build_definitions(paths)
    job = definitions.resolve_job_def("full_pipeline")
    selection = None
    if groups:
        graph = definitions.resolve_asset_graph()
        selection = [key for key in graph.get_all_asset_keys() if graph.get(key).group_name in groups]
    result = job.execute_in_process(
        asset_selection=selection,
        run_config=run_config or {},
        instance=instance,
        raise_on_error=False,
        tags={RANGE_START_TAG: day_range[0].isoformat(), RANGE_END_TAG: day_range[1].isoformat()},
    )
    checks = [
        (f"{e.asset_key.to_user_string()}:{e.check_name}", e.passed) for e in result.get_asset_check_evaluations()
    ]
    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = "; ".join(
            f"{e.step_key}: {e.step_failure_data.error.message.strip() if e.step_failure_data.error else ''}"
            for e in failures
        ) or "run failed"
    return PipelineOutcome(days=day_range, success=result.success, run_id=result.run_id, error=error, checks=checks)
