"""The feature tables in Spark mode: the same SQL (sql/dialects.py) on Spark over the lake's tables,
written to the lake with write-audit-publish (engine/lake.py), audited by the tables' own suites
(no Dagster).

- The statements are those of the DuckDB path (`dialects.load(name, "spark")`), with the same
  parameters (features/tables.py, interactions.py, order_features.py).
- Monthly tables (product_daily_sales by `day`, order_features by `order_day`) are written from the
  first month whose inputs changed since the last build on (the staging.events month folders' files,
  and for product_daily_sales the months from the previous cut-off on); the untouched months keep
  their files. Anything else that changed (the statement, the catalog or marketing tables, the
  settings, order_features' as_of, which every row carries) rewrites every month.
- Snapshot tables (customer_features, interactions) are swapped whole.
- Unchanged inputs keep the table as it is (no Spark job).
- The audit is the table's suite (quality/), run by DuckDB on the staged rows
  (`StagedWrite.duckdb_source()`) before anything is published: a failing suite publishes nothing.
The build record (what the last published build read) is `<lake>/_builds/<schema>.<table>.json`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow.fs as pafs

from shop_pipeline.engine import lake as lakes
from shop_pipeline.engine.lake_views import lake_fingerprint
from shop_pipeline.engine.layout import MONTH_COLUMN, layout
from shop_pipeline.engine.spark_catalog import quote_identifier, register_tables, table_name
from shop_pipeline.features.columns import NO_EVENT_DAYS, cutoff_for
from shop_pipeline.features.interactions import interactions_params
from shop_pipeline.features.order_features import EXPENSIVE_RATIO
from shop_pipeline.features.order_features import _params as order_feature_params
from shop_pipeline.sql import ddl, dialects

EVENTS = "staging.events"
BUILDS = "_builds"


def _month_start(month: str) -> dt.date:
    return dt.date.fromisoformat(f"{month}-01")


@dataclass(frozen=True)
class LakeFeature:
    """How one feature table is computed on Spark: its statement, its parameters for a cut-off and
    a first month (None: every row), the lake tables besides staging.events it reads, and whether
    a new cut-off changes every row (`as_of` on each row) or only the months from the old one on."""

    table: str
    query: str
    params: Callable[[dt.date, dt.date | None], dict]
    inputs: tuple[str, ...] = ()
    every_row_ages: bool = True

    @property
    def monthly(self) -> bool:
        return layout(self.table).partition_column is not None


FEATURES: dict[str, LakeFeature] = {
    "product_daily_sales": LakeFeature(
        "features.product_daily_sales",
        "product_daily_sales",
        lambda as_of, first: {"as_of": as_of, "cutoff": cutoff_for(as_of), "first_day": first},
        ("raw.products", "raw.promotions", "raw.ad_spend"),
        every_row_ages=False,
    ),
    "customer_features": LakeFeature(
        "features.customer_features",
        "customer_features",
        lambda as_of, first: {"as_of": as_of, "cutoff": cutoff_for(as_of), "no_event_days": float(NO_EVENT_DAYS)},
    ),
    "interactions": LakeFeature(
        "features.interactions", "interactions", lambda as_of, first: interactions_params(as_of), ("raw.products",)
    ),
    "order_features": LakeFeature(
        "features.order_features",
        "order_features",
        lambda as_of, first: order_feature_params(
            as_of, EXPENSIVE_RATIO, None if first is None else dt.datetime.combine(first, dt.time())
        ),
    ),
}


@dataclass(frozen=True)
class LakeFeatureWrite:
    """What a step did: `outcome` the suite's (None when the inputs were unchanged and the table kept)."""

    table: str
    rows: int
    written: int
    months: tuple[str, ...]  # the months replaced (monthly tables); () for a whole-table swap or a kept table
    whole_table: bool
    outcome: object | None
    published: bool


# -------------------------------------------------------------------- the catalog and the lake


def point_catalog(spark, lake: str, tables) -> None:
    """Register `tables` as external tables on `lake` afresh (the session's catalog may name another
    lake's, or miss month folders written since): dropping an external table keeps its files."""
    for table in tables:
        spark.sql(f"DROP TABLE IF EXISTS {table_name(table)}")
    register_tables(spark, lake, tables)  # recovers the month folders
    for table in tables:
        spark.catalog.refreshTable(table)


def month_files(lake: str, table: str) -> dict[str, str]:
    """month -> a fingerprint of the data files in its folder (each lake write has its own file names)."""
    located = lakes.lake_table(lake, table)
    fs, base = located.filesystem()
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return {}
    months: dict[str, list[str]] = {}
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True)):
        relative = info.path[len(base) :].lstrip("/")
        unit, _, name = relative.partition("/")
        if info.type != pafs.FileType.File or not unit.startswith(f"{MONTH_COLUMN}=") or "/" in name:
            continue
        if name.startswith(("_", ".")):
            continue
        months.setdefault(unit.removeprefix(f"{MONTH_COLUMN}="), []).append(f"{name}:{info.size}")
    return {m: hashlib.sha256("\n".join(sorted(f)).encode()).hexdigest() for m, f in months.items()}


def _record_path(lake: str, table: str) -> tuple[pafs.FileSystem, str]:
    fs, base = lakes.lake_table(lake, table).filesystem()
    root = base.rsplit("/", 2)[0]
    return fs, f"{root}/{BUILDS}/{table}.json"


def read_record(lake: str, table: str) -> dict | None:
    fs, path = _record_path(lake, table)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as stream:
        return json.loads(stream.read().decode())


def save_record(lake: str, table: str, record: dict) -> None:
    fs, path = _record_path(lake, table)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    temporary = f"{path}.tmp"
    with fs.open_output_stream(temporary) as stream:
        stream.write(json.dumps(record, sort_keys=True).encode())
    fs.move(temporary, path)


def first_changed_month(feature: LakeFeature, record: dict | None, key: str, as_of: dt.date, events: dict):
    """ "kept" when nothing the table reads changed; None to write every month (or the whole table);
    else the first month to rewrite."""
    if record is None or record.get("key") != key:
        return None
    before = dt.date.fromisoformat(record["as_of"])
    old = record.get("events", {})
    changed = [m for m in set(old) | set(events) if old.get(m) != events.get(m)]
    if before != as_of:
        if feature.every_row_ages or not feature.monthly:
            return None
        changed.append(f"{min(before, as_of):%Y-%m}")
    if not changed:
        return "kept"
    return min(changed) if feature.monthly else None


# -------------------------------------------------------------------- the audit


def _audit_view(con, feature: LakeFeature, staged: lakes.StagedWrite) -> str:
    columns = ddl.columns(feature.table)
    view = "audited_rows"
    if staged.table.partitioned and not staged.months:
        body = "SELECT " + ", ".join(f"CAST(NULL AS {c.type}) AS {lakes.sql_identifier(c.name)}" for c in columns)
        body += " LIMIT 0"
    else:
        selected = ", ".join(
            f"CAST({lakes.sql_identifier(c.name)} AS {c.type}) AS {lakes.sql_identifier(c.name)}" for c in columns
        )
        body = f"SELECT {selected} FROM {staged.duckdb_source()}"
    con.execute(f"CREATE OR REPLACE VIEW {view} AS {body}")
    return view


def audited_by(feature: LakeFeature, validate, as_of: dt.date, max_rows: int, outcomes: list):
    """The write's audit: `validate(con, as_of, table=, max_rows=)` (the table's suite) on the staged
    rows in an in-memory DuckDB session (UTC); its outcome is kept in `outcomes`."""

    def audit(staged: lakes.StagedWrite) -> bool:
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            view = _audit_view(con, feature, staged)
            outcome = validate(con, as_of, table=view, max_rows=max_rows)
        outcomes.append(outcome)
        return bool(outcome.success)

    return audit


# -------------------------------------------------------------------- the step


def build_feature_on_lake(
    spark, lake: str, name: str, as_of: dt.date, validate, max_rows: int, settings: dict | None = None
) -> LakeFeatureWrite:
    """Compute features.<name> as of `as_of` on Spark from the lake and publish it there after its suite
    passed (module docstring). A failing suite publishes nothing: `published` False, its outcome given."""
    feature = FEATURES[name]
    located = lakes.lake_table(lake, feature.table)
    query = dialects.load(feature.query, "spark")
    key = hashlib.sha256(
        json.dumps(
            {
                "query": query,
                "params": {k: str(v) for k, v in feature.params(as_of, None).items() if k not in ("as_of", "cutoff")},
                "inputs": {t: lake_fingerprint(lake, t) for t in feature.inputs},
                "settings": settings or {},
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    events = month_files(lake, EVENTS)
    record = read_record(lake, feature.table)
    first = first_changed_month(feature, record, key, as_of, events)
    if first == "kept":
        return LakeFeatureWrite(feature.table, int(record.get("rows", 0)), 0, (), False, None, True)
    point_catalog(spark, lake, (EVENTS, *feature.inputs))
    first_day = _month_start(first) if first is not None else None
    rows = dialects.execute(spark, query, feature.params(as_of, first_day))
    rows = rows.select(*[quote_identifier(c) for c in ddl.column_names(feature.table)])
    months = None
    if feature.monthly:
        existing = set(month_files(lake, feature.table))
        wanted = {f"{d:%Y-%m}" for d in _months_through(as_of, first_day)} if first_day else set()
        months = sorted(m for m in existing | wanted if first is None or m >= first)
        if first is None:
            months = sorted(existing | _row_months(rows, layout(feature.table).month_of))
    outcomes: list = []
    try:
        result = lakes.write_partitions(
            rows, located, months=months, audit=audited_by(feature, validate, as_of, max_rows, outcomes)
        )
    except lakes.AuditFailed:
        if outcomes and not outcomes[-1].success:
            return LakeFeatureWrite(feature.table, 0, 0, (), first is None, outcomes[-1], False)
        raise
    table_rows = _count(spark, located)
    written = outcomes[-1].rows if outcomes and hasattr(outcomes[-1], "rows") else table_rows
    save_record(lake, feature.table, {"key": key, "as_of": as_of.isoformat(), "events": events, "rows": table_rows})
    return LakeFeatureWrite(
        feature.table, table_rows, int(written), tuple(result.months), first is None, outcomes[-1], True
    )


def _months_through(as_of: dt.date, first_day: dt.date) -> list[dt.date]:
    months, day = [], first_day.replace(day=1)
    while day <= as_of:
        months.append(day)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


def _row_months(rows, month_of: str) -> set[str]:
    from pyspark.sql import functions as F

    found = rows.select(F.date_format(F.col(month_of), "yyyy-MM").alias("m")).distinct().collect()
    return {row["m"] for row in found}


def _count(spark, located: lakes.LakeTable) -> int:
    fs, base = located.filesystem()
    if located.partitioned and not month_files_at(fs, base):
        return 0
    return spark.read.parquet(lakes.spark_uri(located.location)).count()


def month_files_at(fs: pafs.FileSystem, base: str) -> bool:
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return False
    return any(
        info.path.endswith(".parquet") and "/_" not in info.path[len(base) :]
        for info in fs.get_file_info(pafs.FileSelector(base, recursive=True))
    )


def lake_summary_connection(lake: str, tables) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session (UTC) with views over the lake's `tables` (engine/lake_views.py):
    what the assets' summaries and the cut-off read in Spark mode."""
    from shop_pipeline.engine.lake_views import attach_lake

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    attach_lake(con, lake, tables)
    return con
