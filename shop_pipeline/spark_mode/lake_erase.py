"""Removing rows from the lake's tables on Spark: the lake part of `forget` (no Dagster).

`erase_from_lake(spark, lake, keys)` drops every row naming the erased customers (their stored ids,
sessions and orders, their landed lines: `warehouse.erase.ErasureKeys`) from every lake table that
has one of those columns: raw, staging, quarantine and rejected lines, duplicates, features, scores
and labels. The ids are never written into SQL text: they are Spark DataFrames, and each table is
left-joined with them (broadcast: a request names few customers), so a row is doomed when any of
its key columns (or a JSON column's `customer_id` / `session_id` / `order_id`) finds a match.

Only what holds such rows is rewritten. A monthly table: the months with at least one doomed row,
each replaced by its other rows through the lake's own write-audit-publish (engine/lake.py:
written aside, audited, swapped; a killed write leaves the month readable, old or erased, and the
next write recovers the journal); every other month keeps its files untouched. An unpartitioned
table is one unit: rewritten whole when it holds any doomed row. The audit reads the staged files
back and requires, per month, rows after = rows before - doomed rows. A table without doomed rows
is not written at all, so a second run (after a completed one) writes nothing.

Files are read with the DDL's column types (engine/spark_catalog.spark_type), not with what one
file's footer says: DuckDB-written months (ingestion) and Spark-written ones then read alike, and
the rewritten files carry the types every Spark-written table has.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyarrow.compute as pc
import pyarrow.fs as pafs

from shop_pipeline.engine import lake as lakes
from shop_pipeline.engine.layout import MONTH_COLUMN
from shop_pipeline.engine.spark_catalog import quote_identifier, spark_type
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.erase import CUSTOMER_COLUMNS, JSON_KEYS, ORDER_COLUMNS, SESSION_COLUMNS, ErasureKeys
from shop_pipeline.warehouse.expire import DATED_ROWS

# The retention purge's dating of rows on the lake: the warehouse's (warehouse/expire.py), and the event
# tables by their landed day (staging.events also by its event time; raw.events' late lines are
# named by the warehouse, which parses their text as ingestion does)
DATED_COLUMNS: dict[str, tuple[str, ...]] = {
    "raw.events": ("partition_date",),
    "raw.rejected_lines": ("partition_date",),
    "staging.events": ("partition_date", "event_time"),
    "staging.quarantined_events": ("partition_date",),
    "staging.duplicate_events": ("partition_date",),
    **{table: (column,) for table, column in DATED_ROWS.items()},
}
EVENT_TABLES = ("raw.events", "staging.events")
WHOLE_TABLE = "*"  # the unit name reported for an unpartitioned table


@dataclass
class LakeErasure:
    """What the lake lost: rows per table, and the units rewritten (months, or `*` for a whole table)."""

    rows: dict[str, int] = field(default_factory=dict)
    partitions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def rewritten(self) -> int:
        return sum(len(units) for units in self.partitions.values())


def lake_has_data(lake: str, table: str) -> bool:
    """Whether `table` has a folder on the lake with at least one published data file."""
    located = lakes.lake_table(lake, table)
    fs, base = located.filesystem()
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return False
    lakes.recover(located)  # a dead writer's journal: finished or rolled back before we read
    pattern = f"{MONTH_COLUMN}=" if located.partitioned else ""
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=located.partitioned)):
        relative = info.path[len(base) :].lstrip("/")
        if info.type == pafs.FileType.File and relative.endswith(".parquet") and relative.startswith(pattern):
            return True
    return False


def read_table(spark, lake: str, table: str):
    """The lake table as a Spark DataFrame with its DDL's columns and types (and `event_month`)."""
    located = lakes.lake_table(lake, table)
    columns = [f"{quote_identifier(c.name)} {spark_type(c.type)}" for c in ddl.columns(table)]
    if located.partitioned:
        columns.append(f"{quote_identifier(MONTH_COLUMN)} STRING")
    return spark.read.schema(", ".join(columns)).parquet(lakes.spark_uri(located.location))


class _Keys:
    """The erasure's keys as small Spark DataFrames, each column named apart so joins never clash."""

    def __init__(self, spark, keys: ErasureKeys) -> None:
        self.spark = spark
        self.ids = {
            "customers": [(k,) for k in keys.customers],
            "sessions": [(k,) for k in keys.sessions],
            "orders": [(k,) for k in keys.orders],
        }
        self.lines = [(f, n) for f, n in keys.lines]
        self._count = 0

    def _name(self) -> str:
        self._count += 1
        return f"_erase_{self._count}"

    def single(self, kind: str):
        """(frame with one key column and a marker column, key column name, marker name)."""
        from pyspark.sql import functions as F

        name = self._name()
        frame = self.spark.createDataFrame(self.ids[kind], f"{name}_key STRING")
        return frame.withColumn(name, F.lit(True)), f"{name}_key", name

    def line_pairs(self):
        from pyspark.sql import functions as F

        name = self._name()
        frame = self.spark.createDataFrame(self.lines, f"{name}_file STRING, {name}_line BIGINT")
        return frame.withColumn(name, F.lit(True)), (f"{name}_file", f"{name}_line"), name


_KINDS = (("customers", CUSTOMER_COLUMNS), ("sessions", SESSION_COLUMNS), ("orders", ORDER_COLUMNS))
_JSON_KINDS = {"customer_id": "customers", "session_id": "sessions", "order_id": "orders"}
assert set(_JSON_KINDS) == set(JSON_KEYS)


def mark_doomed(frame, table: str, keys: _Keys, before: dt.date | None = None):
    """`frame` with a boolean `_doomed` column (a row naming an erased customer, session, order or
    line, or with `before`: dated before that day by a column of DATED_COLUMNS), or None when the
    table has no column that can doom a row."""
    from pyspark.sql import functions as F

    types = {c.name: c.type for c in ddl.columns(table)}
    markers = []
    dated = []
    if before is not None:
        for column in DATED_COLUMNS.get(table, ()):
            if column in types:
                kind = "timestamp_ntz" if types[column].startswith("TIMESTAMP") else "date"
                dated.append(F.coalesce(F.col(column) < F.lit(before).cast(kind), F.lit(False)))
    for kind, names in _KINDS:
        for column in (c for c in names if c in types):
            if not keys.ids[kind]:
                continue
            found, key, marker = keys.single(kind)
            frame = frame.join(F.broadcast(found), frame[column] == F.col(key), "left").drop(key)
            markers.append(marker)
    if "source_file" in types and "line" in types and keys.lines:
        found, (file_key, line_key), marker = keys.line_pairs()
        condition = (frame["source_file"] == F.col(file_key)) & (frame["line"] == F.col(line_key))
        frame = frame.join(F.broadcast(found), condition, "left").drop(file_key, line_key)
        markers.append(marker)
    for column, kind_type in types.items():
        if kind_type != "JSON":
            continue
        for json_key, kind in _JSON_KINDS.items():
            if not keys.ids[kind]:
                continue
            found, key, marker = keys.single(kind)
            named = F.get_json_object(frame[column], f"$.{json_key}")
            frame = frame.join(F.broadcast(found), named == F.col(key), "left").drop(key)
            markers.append(marker)
    if not markers and not dated:
        return None
    doomed = F.lit(False)
    for condition in dated:
        doomed = doomed | condition
    for marker in markers:
        doomed = doomed | F.coalesce(F.col(marker), F.lit(False))
    return frame.withColumn("_doomed", doomed).drop(*markers)


def rewrite_without(spark, lake: str, table: str, marked) -> tuple[int, list[str]]:
    """Rewrite the units of `table` holding rows `marked` as `_doomed` without those rows, each
    audited per month; returns (rows removed, units rewritten). Nothing is written when none is doomed."""
    return _rewrite_units(lake, table, marked, "_doomed", remove=True)


def rewrite_changed(spark, lake: str, table: str, marked) -> tuple[int, list[str]]:
    """Rewrite the units of `table` holding a row `marked` as `_changed` with the rows as they are in
    `marked` (changed values, the same rows, audited per month); returns (rows changed, units)."""
    return _rewrite_units(lake, table, marked, "_changed", remove=False)


def _rewrite_units(lake: str, table: str, marked, flag: str, remove: bool) -> tuple[int, list[str]]:
    from pyspark.sql import functions as F

    located = lakes.lake_table(lake, table)
    unit = F.col(MONTH_COLUMN) if located.partitioned else F.lit(WHOLE_TABLE)
    counts = (
        marked.groupBy(unit.alias("_unit"))
        .agg(F.count(F.lit(1)).alias("rows"), F.sum(F.col(flag).cast("long")).alias("flagged"))
        .where(F.col("flagged") > 0)
        .collect()
    )
    if not counts:
        return 0, []
    expected = {row["_unit"]: row["rows"] - (row["flagged"] if remove else 0) for row in counts}
    units = sorted(expected)
    kept = marked.where(~F.col(flag)) if remove else marked
    if located.partitioned:
        kept = kept.where(F.col(MONTH_COLUMN).isin(units))
    kept = kept.select(*ddl.column_names(table))

    def audit(staged: lakes.StagedWrite) -> bool:
        dataset = staged.dataset()
        if not located.partitioned:
            return dataset.count_rows() == expected[WHOLE_TABLE]
        months = dataset.to_table(columns=[MONTH_COLUMN]).column(MONTH_COLUMN)
        found = {m["values"].as_py(): m["counts"].as_py() for m in pc.value_counts(months)} if len(months) else {}
        return {m: found.get(m, 0) for m in units} == expected and set(found) <= set(units)

    lakes.write_partitions(kept, located, months=units if located.partitioned else None, audit=audit)
    return sum(row["flagged"] for row in counts), units


def erase_from_lake(
    spark,
    lake: str,
    keys: ErasureKeys,
    tables: list[str] | None = None,
    before: dt.date | None = None,
    done: LakeErasure | None = None,
) -> LakeErasure:
    """Remove the rows of `keys` (and with `before`, the rows dated before it) from every lake
    table, or from `tables` (module docstring); what was removed, added to `done`."""
    done = done or LakeErasure()
    wrapped = _Keys(spark, keys)
    for table in sorted(tables if tables is not None else ddl.tables()):
        if not lake_has_data(lake, table):
            continue
        marked = mark_doomed(read_table(spark, lake, table), table, wrapped, before)
        if marked is None:
            continue
        removed, units = rewrite_without(spark, lake, table, marked)
        if removed:
            done.rows[table] = done.rows.get(table, 0) + removed
            done.partitions[table] = sorted({*done.partitions.get(table, []), *units})
    return done


def purge_lake(spark, lake: str, cutoff: dt.date, late_lines: list[tuple[str, int]]) -> tuple[LakeErasure, int]:
    """The retention purge on the lake: the rows dated before `cutoff` and the landed lines
    `late_lines` (late events before it, as the warehouse names them) leave every table; whole
    months before the cut-off's are emptied (their folders removed), its month rewritten. Then the
    customers of the feature, score and label tables left without any event on the lake are erased
    from those tables, as warehouse/expire.py erases them. Returns (what was removed, customers gone)."""
    lines = ErasureKeys(customers=(), sessions=(), orders=(), lines=tuple(sorted(set(late_lines))))
    done = erase_from_lake(spark, lake, lines, before=cutoff)
    gone = customers_without_events(spark, lake)
    if gone.customers:
        derived = [t for t in ddl.tables() if not t.startswith(("raw.", "staging."))]
        erase_from_lake(spark, lake, gone, tables=derived, done=done)
    return done, len(gone.customers)


def customers_without_events(spark, lake: str) -> ErasureKeys:
    """The customers the lake's derived tables name who have no row left in raw.events or
    staging.events, with their sessions and orders from those tables."""
    from pyspark.sql import functions as F

    derived = [t for t in ddl.tables() if not t.startswith(("raw.", "staging.")) and lake_has_data(lake, t)]
    events = [t for t in EVENT_TABLES if lake_has_data(lake, t)]
    holders = None
    for table in derived:
        names = {c.name for c in ddl.columns(table)}
        for column in (c for c in CUSTOMER_COLUMNS if c in names):
            ids = read_table(spark, lake, table).select(F.col(column).alias("id"))
            holders = ids if holders is None else holders.union(ids)
    if holders is None:
        return ErasureKeys((), (), (), ())
    remaining = None
    for table in events:
        ids = read_table(spark, lake, table).select(F.col("user_id").alias("id"))
        remaining = ids if remaining is None else remaining.union(ids)
    gone = holders.where(F.col("id").isNotNull()).distinct()
    if remaining is not None:
        gone = gone.join(remaining.where(F.col("id").isNotNull()).distinct(), "id", "left_anti")
    customers = sorted(r["id"] for r in gone.collect())
    sessions, orders = set(), set()
    if customers:
        wanted = spark.createDataFrame([(c,) for c in customers], "id STRING")
        for table in derived:
            names = {c.name for c in ddl.columns(table)}
            customer = next((c for c in CUSTOMER_COLUMNS if c in names), None)
            if customer is None:
                continue
            frame = read_table(spark, lake, table).join(
                F.broadcast(wanted), F.col(customer) == wanted["id"], "left_semi"
            )
            for found, columns in ((sessions, SESSION_COLUMNS), (orders, ORDER_COLUMNS)):
                for column in (c for c in columns if c in names):
                    found |= {r[0] for r in frame.select(column).where(F.col(column).isNotNull()).distinct().collect()}
    return ErasureKeys(tuple(customers), tuple(sorted(sessions)), tuple(sorted(orders)), ())
