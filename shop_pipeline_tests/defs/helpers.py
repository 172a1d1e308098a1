from dagster import AssetSelection, materialize

from shop_pipeline.definitions import ASSETS
from shop_pipeline.pipeline_run import RANGE_END_TAG, RANGE_START_TAG
from shop_pipeline.resources import default_resources
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.landing_fixtures import event_line


DATA_GROUPS = AssetSelection.groups("ingestion", "staging", "features")


def run_days(paths, first: str, last: str | None = None, selection=DATA_GROUPS):
    """Materialize the data stages (and their checks) over the partitions (months) of a day range,
    in-process, like the CLI.

    The model stages need weeks of history; they have their own end-to-end test."""
    return materialize(
        ASSETS,
        selection=selection,
        resources=default_resources(paths),
        tags={RANGE_START_TAG: month_of(first), RANGE_END_TAG: month_of(last or first)},
        raise_on_error=False,
    )


def month_of(day: str) -> str:
    """The partition key holding a day (partitions are months)."""
    return day[:8] + "01"


def query(paths, sql: str, params=None):
    with connect(paths.warehouse) as con:
        return con.execute(sql, params or {}).fetchall()


def good_day(day: str, count: int = 50, prefix: str = "e") -> list[str]:
    return [
        event_line(f"{prefix}{day}-{i}", when=f"{day}T{10 + i % 10:02d}:00:00.000Z", user=f"u{i % 7}",
                   session=f"s{day}-{i % 9}", product=f"p{1 + i % 5}")
        for i in range(count)
    ]


def checks_by_name(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
