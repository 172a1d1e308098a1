import datetime as dt

from dagster import AssetSelection, DagsterInstance, materialize

from shop_pipeline.definitions import ASSETS
from shop_pipeline.defs.common import EVENT_PARTITIONS_NAME, add_partitions
from shop_pipeline.pipeline_run import RANGE_END_TAG, RANGE_START_TAG
from shop_pipeline.resources import default_resources
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.landing_fixtures import event_line

DATA_GROUPS = AssetSelection.groups("ingestion", "staging", "features")


def run_days(paths, first: str, last: str | None = None, selection=DATA_GROUPS, instance=None):
    """Materialize the data stages (and their checks) over the partitions (months) of a day range,
    in-process, like the CLI (which first makes the range's months partitions).

    The model stages need weeks of history; they have their own end-to-end test."""
    instance = instance or DagsterInstance.ephemeral()
    add_partitions(instance, months_between(first, last or first))
    return materialize(
        ASSETS,
        selection=selection,
        resources=default_resources(paths),
        instance=instance,
        tags={RANGE_START_TAG: month_of(first), RANGE_END_TAG: month_of(last or first)},
        raise_on_error=False,
    )


def months_between(first: str, last: str) -> list[dt.date]:
    """The first day of every month from the month of `first` to that of `last`."""
    month, end = dt.date.fromisoformat(month_of(first)), dt.date.fromisoformat(month_of(last))
    months = []
    while month <= end:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def apply_partition_requests(instance, result):
    """What the daemon does with a sensor's dynamic partition requests, before its runs."""
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def partitions(instance) -> list[str]:
    return instance.get_dynamic_partitions(EVENT_PARTITIONS_NAME)


def run_requested(definitions, instance, evaluation, run_config=None):
    """Run what an automation evaluation requested, as the sensor's run would (None: nothing requested)."""
    graph = definitions.resolve_asset_graph()
    keys = [key for key in graph.get_all_asset_keys() if evaluation.get_num_requested(key)]
    if not keys:
        return None
    return definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=keys, instance=instance, run_config=run_config or {}, raise_on_error=False
    )


def requested(definitions, evaluation) -> set[str]:
    graph = definitions.resolve_asset_graph()
    return {key.to_user_string() for key in graph.get_all_asset_keys() if evaluation.get_num_requested(key)}


def month_of(day: str) -> str:
    """The partition key holding a day (partitions are months)."""
    return day[:8] + "01"


def query(paths, sql: str, params=None):
    with connect(paths.warehouse) as con:
        return con.execute(sql, params or {}).fetchall()


def good_day(day: str, count: int = 50, prefix: str = "e") -> list[str]:
    return [
        event_line(
            f"{prefix}{day}-{i}",
            when=f"{day}T{10 + i % 10:02d}:00:00.000Z",
            user=f"u{i % 7}",
            session=f"s{day}-{i % 9}",
            product=f"p{1 + i % 5}",
        )
        for i in range(count)
    ]


def checks_by_name(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
