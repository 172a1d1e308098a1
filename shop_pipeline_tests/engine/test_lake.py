"""The lake write path (engine/lake.py): layout every reader reads, partition overwrite,
write-audit-publish, recovery after a crash at every step, and a real SIGKILL mid-write.

The lake folder's name holds a quote and a space, so every path that reaches DuckDB's SQL
(COPY targets, read_parquet globs) goes through the quoting helpers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from shop_pipeline.engine import lake
from shop_pipeline.engine.layout import MONTH_COLUMN

EVENTS = "staging.events"  # monthly by partition_date
SCORES = "scoring.customer_scores"  # unpartitioned
ROOT = Path(__file__).resolve().parents[2]

# Money values whose last bits matter; timestamps with microseconds, before and after 1970
PRICES = [0.1, 0.1 + 0.2, 19.99, 1e-300, 123456789.12345679, 5e-324, -0.0, 2.0**53 + 2]
TIMES = ["2026-01-05 13:14:15.123456", "1969-12-31 23:59:59.999999", "2026-03-29 01:30:00.000001"]


def _events(months: dict[str, int], price_offset: float = 0.0) -> str:
    """SQL of `count` events on the first days of each month ('2026-01': 5)."""
    parts = [
        f"SELECT '{month}-' || i AS event_id, DATE '{month}-01' + (i % 28)::INTEGER AS partition_date, "
        f"i * 0.01 + {price_offset} AS price, TIMESTAMP '{month}-01 00:00:00' + to_seconds(i) AS event_time "
        f"FROM range({count}) t(i)"
        for month, count in months.items()
    ]
    return " UNION ALL ".join(parts)


@pytest.fixture
def lake_uri(tmp_path: Path) -> str:
    return (tmp_path / "o'b lake").as_uri()


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _counts(con: duckdb.DuckDBPyConnection, table: lake.LakeTable) -> dict[str, int]:
    query = f"SELECT {MONTH_COLUMN}, count(*) FROM {lake.duckdb_source(table)} GROUP BY ALL ORDER BY 1"
    return dict(con.execute(query).fetchall())


def _rows(con: duckdb.DuckDBPyConnection, table: lake.LakeTable) -> list[tuple]:
    return con.execute(f"SELECT * FROM {lake.duckdb_source(table)} ORDER BY ALL").fetchall()


def _files(table: lake.LakeTable) -> dict[str, int]:
    """Every file under the table folder (relative path -> mtime in ns)."""
    _, base = table.filesystem()
    return {str(p.relative_to(base)): p.stat().st_mtime_ns for p in Path(base).rglob("*") if p.is_file()}


def _leftovers(table: lake.LakeTable) -> list[str]:
    return [f for f in _files(table) if f.startswith((lake.WAP, lake.TRASH))]


class Crash(BaseException):
    """A simulated kill: not an Exception, so the writer's own clean-up does not run."""


def _crash_at(monkeypatch: pytest.MonkeyPatch, point: str, after: int = 1) -> None:
    calls = {"n": 0}

    def checkpoint(name: str) -> None:
        if name == point:
            calls["n"] += 1
            if calls["n"] == after:
                raise Crash(point)

    monkeypatch.setattr(lake, "_checkpoint", checkpoint)


# --- SQL quoting ------------------------------------------------------------------------------


def test_sql_string_quotes_what_duckdb_reads_back(con: duckdb.DuckDBPyConnection) -> None:
    for text in ["o'b lake", "''", "a'); DROP TABLE x; --", "ü\\n'\"", ""]:
        assert con.execute(f"SELECT {lake.sql_string(text)}").fetchone()[0] == text
    assert lake.sql_identifier('we"ird') == '"we""ird"'
    with pytest.raises(ValueError):
        lake.sql_string("a\x00b")
    # a glob character in the lake path is taken literally by the reader
    assert lake.reader_glob("/l/a[1]*", partitioned=True) == "/l/a[[]1[]][*]/event_month=*/*.parquet"


def test_uris() -> None:
    assert lake.spark_uri("s3://bucket/lake") == "s3a://bucket/lake"
    assert lake.spark_uri("file:///data/o%27b%20lake") == "file:///data/o'b lake"  # Hadoop quotes it itself
    assert lake.spark_uri("/data/lake") == "file:///data/lake"
    assert lake.lake_table("file:///data/my%20lake", EVENTS).filesystem()[1] == "/data/my lake/staging/events"
    assert lake.lake_table("gs://b/l/", SCORES).location == "gs://b/l/scoring/customer_scores"


def test_months_are_normalised() -> None:
    import datetime as dt

    assert lake.normalise_months(["2026-01-01", "2026-01", dt.date(2026, 2, 9)]) == ["2026-01", "2026-02"]
    for bad in ["2026-13", "26-01", "2026-01-01T00"]:
        with pytest.raises(ValueError):
            lake.normalise_months([bad])


# --- layout and readers -----------------------------------------------------------------------


def test_duckdb_writer_layout_read_by_duckdb_pyarrow_and_spark(
    lake_uri: str, con: duckdb.DuckDBPyConnection, spark, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = lake.lake_table(lake_uri, EVENTS)
    result = lake.write_partitions_from_duckdb(con, _events({"2026-01": 30, "2026-02": 20, "2026-03": 10}), table)
    assert result.months == ("2026-01", "2026-02", "2026-03")
    _, base = table.filesystem()
    assert base.endswith("o'b lake/staging/events")
    assert sorted(p.name for p in Path(base).iterdir()) == [f"{MONTH_COLUMN}=2026-0{m}" for m in (1, 2, 3)]

    # a crashed write leaves rows aside under _wap/ (here: 2026-02 with 99 rows): no reader sees them
    _crash_at(monkeypatch, "audited")
    with pytest.raises(Crash):
        lake.write_partitions_from_duckdb(con, _events({"2026-02": 99}), table)
    assert any(f.startswith(f"{lake.WAP}/") and f.endswith(".parquet") for f in _files(table))
    expected = {"2026-01": 30, "2026-02": 20, "2026-03": 10}

    assert _counts(con, table) == expected  # DuckDB through reader_glob
    everything = con.execute(f"SELECT count(*) FROM read_parquet({lake.sql_string(base + '/**/*.parquet')})")
    assert everything.fetchone()[0] == 60 + 99  # why: DuckDB's ** does not skip _wap/

    dataset = pads.dataset(base, format="parquet", partitioning="hive")  # skips _-prefixed paths
    months = dataset.to_table().column(MONTH_COLUMN).to_pylist()
    assert {m: months.count(m) for m in set(months)} == expected

    frame = spark.read.parquet(lake.spark_uri(table.location))  # skips _-prefixed paths
    assert dict(frame.groupBy(MONTH_COLUMN).count().collect()) == expected
    assert dict(frame.dtypes)[MONTH_COLUMN] == "string"
    assert dict(frame.dtypes)["event_time"] == "timestamp_ntz"
    assert dict(frame.dtypes)["partition_date"] == "date"

    assert lake.recover(table) != []  # the crashed write (this process, not writing now) is rolled back
    assert _leftovers(table) == []


def test_values_identical_from_duckdb_to_spark_and_back(lake_uri: str, con: duckdb.DuckDBPyConnection, spark) -> None:
    prices = ", ".join(repr(p) for p in PRICES)
    times = ", ".join(f"TIMESTAMP '{t}'" for t in TIMES)
    query = (
        f"SELECT p.i AS id, p.price, t.ts, t.ts AT TIME ZONE 'UTC' AS ts_tz FROM "
        f"(SELECT unnest([{prices}]) AS price, generate_subscripts([{prices}], 1) AS i) p, "
        f"(SELECT unnest([{times}]) AS ts) t"
    )
    expected = con.execute(f"SELECT id, price, ts, ts FROM ({query}) ORDER BY id, ts").fetchall()

    from_duckdb = lake.lake_table(lake_uri, "scoring.from_duckdb")
    lake.write_partitions_from_duckdb(con, query, from_duckdb)
    # TIMESTAMPTZ is stored as UTC wall time, a plain TIMESTAMP
    kinds = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {lake.duckdb_source(from_duckdb)}").fetchall()}
    assert kinds["ts"] == kinds["ts_tz"] == "TIMESTAMP"

    frame = spark.read.parquet(lake.spark_uri(from_duckdb.location))
    assert dict(frame.dtypes)["ts"] == dict(frame.dtypes)["ts_tz"] == "timestamp_ntz"
    in_spark = [tuple(r) for r in frame.orderBy("id", "ts").select("id", "price", "ts", "ts_tz").collect()]
    assert _bits(in_spark) == _bits(expected)

    # Spark writes them back (ts_tz now as a Spark TIMESTAMP with the local time zone): DuckDB reads the same
    from pyspark.sql import functions as F

    back = frame.withColumn("ts_tz", F.col("ts_tz").cast("timestamp"))
    assert dict(back.dtypes)["ts_tz"] == "timestamp"
    from_spark = lake.lake_table(lake_uri, "scoring.from_spark")
    lake.write_partitions(back, from_spark)
    again = con.execute(f"SELECT id, price, ts, ts_tz FROM {lake.duckdb_source(from_spark)} ORDER BY id, ts")
    assert _bits(again.fetchall()) == _bits(expected)
    # and pyarrow, from the pandas side, keeps them too
    arrow = pads.dataset(from_spark.filesystem()[1], format="parquet").to_table()
    assert str(arrow.schema.field("ts_tz").type) == "timestamp[us]"


def _bits(rows: list[tuple]) -> list[tuple]:
    """Floats by their bits (-0.0 is not 0.0 here), everything else as it is."""
    return [tuple(struct.pack("<d", v) if isinstance(v, float) else v for v in row) for row in rows]


def test_spark_writer_overwrites_only_its_months(lake_uri: str, con: duckdb.DuckDBPyConnection, spark) -> None:
    table = lake.lake_table(lake_uri, EVENTS)
    lake.write_partitions_from_duckdb(con, _events({"2026-01": 30, "2026-02": 20, "2026-03": 10}), table)
    before = _files(table)
    frame = spark.sql(
        "SELECT concat('new-', id) AS event_id, date'2026-02-03' AS partition_date, 1.25D AS price, "
        "timestamp_ntz'2026-02-03 04:05:06.000007' AS event_time FROM range(7)"
    )
    seen = {}

    def audit(staged: lake.StagedWrite) -> None:  # an audit in Spark, on what was written aside
        seen[staged.months] = staged.spark_frame(spark).count()

    result = lake.write_partitions(frame, table, months=["2026-02-01", "2026-03-01"], audit=audit)
    assert result.months == ("2026-02", "2026-03")
    assert seen == {("2026-02",): 7}
    assert _counts(con, table) == {"2026-01": 30, "2026-02": 7}  # 2026-03 named without rows: emptied
    after = _files(table)
    kept = {f: t for f, t in before.items() if f.startswith(f"{MONTH_COLUMN}=2026-01/")}
    assert kept and all(after.get(f) == t for f, t in kept.items())
    assert not any(f.startswith(f"{MONTH_COLUMN}=2026-03") for f in after)
    assert _leftovers(table) == []
    rows = con.execute(
        f"SELECT DISTINCT price, event_time::VARCHAR FROM {lake.duckdb_source(table)} WHERE {MONTH_COLUMN} = '2026-02'"
    )
    assert rows.fetchall() == [(1.25, "2026-02-03 04:05:06.000007")]


# --- partition overwrite and write-audit-publish --------------------------------------------


def test_rewrite_replaces_exactly_the_touched_months(lake_uri: str, con: duckdb.DuckDBPyConnection, moves: str) -> None:
    table = lake.lake_table(lake_uri, EVENTS)
    lake.write_partitions_from_duckdb(con, _events({"2026-01": 30, "2026-02": 20, "2026-03": 10}), table)
    before = _files(table)
    time.sleep(0.01)  # a rewritten file would get a later mtime
    lake.write_partitions_from_duckdb(con, _events({"2026-02": 5}, price_offset=1000), table, months=["2026-02"])
    after = _files(table)
    for month in ("2026-01", "2026-03"):
        old = {f: t for f, t in before.items() if f.startswith(f"{MONTH_COLUMN}={month}/")}
        assert old and {f: t for f, t in after.items() if f.startswith(f"{MONTH_COLUMN}={month}/")} == old
    assert not set(before) & {f for f in after if f.startswith(f"{MONTH_COLUMN}=2026-02/")}
    assert _counts(con, table) == {"2026-01": 30, "2026-02": 5, "2026-03": 10}
    assert con.execute(
        f"SELECT min(price) FROM {lake.duckdb_source(table)} WHERE {MONTH_COLUMN} = '2026-02'"
    ).fetchone() == (1000.0,)


def test_rows_of_a_month_not_named_publish_nothing(lake_uri: str, con: duckdb.DuckDBPyConnection) -> None:
    table = lake.lake_table(lake_uri, EVENTS)
    lake.write_partitions_from_duckdb(con, _events({"2026-01": 3}), table)
    with pytest.raises(lake.AuditFailed, match="2026-02"):
        lake.write_partitions_from_duckdb(con, _events({"2026-01": 9, "2026-02": 9}), table, months=["2026-01"])
    assert _counts(con, table) == {"2026-01": 3}
    assert _leftovers(table) == []
    with pytest.raises(ValueError, match="not partitioned"):
        lake.write_partitions_from_duckdb(con, "SELECT 1 AS a", lake.lake_table(lake_uri, SCORES), months=["2026-01"])


def test_audit_reads_the_staged_rows_and_a_refusal_publishes_nothing(
    lake_uri: str, con: duckdb.DuckDBPyConnection
) -> None:
    table = lake.lake_table(lake_uri, EVENTS)
    lake.write_partitions_from_duckdb(con, _events({"2026-01": 30, "2026-02": 20}), table)
    before = _files(table)
    seen = {}

    def audit(staged: lake.StagedWrite) -> None:
        seen["months"] = staged.months
        seen["duckdb"] = con.execute(f"SELECT count(*) FROM {staged.duckdb_source()}").fetchone()[0]
        seen["arrow"] = staged.dataset().count_rows()
        negative = con.execute(f"SELECT count(*) FROM {staged.duckdb_source()} WHERE price < 0").fetchone()[0]
        if negative:
            raise ValueError(f"{negative} negative prices")

    with pytest.raises(ValueError, match="4 negative prices"):
        lake.write_partitions_from_duckdb(con, _events({"2026-02": 4}, price_offset=-1), table, audit=audit)
    assert seen == {"months": ("2026-02",), "duckdb": 4, "arrow": 4}
    assert _files(table) == before  # nothing published, nothing left aside
    assert lake.write_partitions_from_duckdb(con, _events({"2026-02": 4}), table, audit=audit).months == ("2026-02",)
    assert _counts(con, table) == {"2026-01": 30, "2026-02": 4}

    with pytest.raises(lake.AuditFailed):  # an audit may also answer False
        lake.write_partitions_from_duckdb(con, _events({"2026-01": 1}), table, audit=lambda staged: False)
    assert _counts(con, table) == {"2026-01": 30, "2026-02": 4}
    assert _leftovers(table) == []


def test_unpartitioned_table_is_replaced_whole(lake_uri: str, con: duckdb.DuckDBPyConnection) -> None:
    import pandas as pd

    table = lake.lake_table(lake_uri, SCORES)
    first = pd.DataFrame({"customer_id": ["a", "b"], "score": [0.25, 0.5]})
    lake.write_partitions(first, table)
    lake.write_partitions(pd.DataFrame({"customer_id": ["c"], "score": [0.75]}), table)
    assert _rows(con, table) == [("c", 0.75)]
    assert [f for f in _files(table)] == [next(iter(_files(table)))]  # one data file, nothing aside


def test_pandas_arrow_relation_and_parameters(lake_uri: str, con: duckdb.DuckDBPyConnection) -> None:
    import datetime as dt

    import pandas as pd

    table = lake.lake_table(lake_uri, EVENTS)
    frame = pd.DataFrame(
        {
            "event_id": ["a", "b", "c"],
            "partition_date": [dt.date(2026, 1, 31), dt.date(2026, 2, 1), dt.date(2026, 2, 2)],
            "price": [19.99, 0.1 + 0.2, 5e-324],
            # an offset is normalised to UTC wall time; nanoseconds that would be lost refuse the write
            "event_time": pd.to_datetime(["2026-01-31T23:30:00.000001+02:00"] * 3, format="ISO8601"),
        }
    )
    assert lake.write_partitions(frame, table).months == ("2026-01", "2026-02")
    assert _rows(con, table) == [
        ("a", dt.date(2026, 1, 31), 19.99, dt.datetime(2026, 1, 31, 21, 30, 0, 1), "2026-01"),
        ("b", dt.date(2026, 2, 1), 0.1 + 0.2, dt.datetime(2026, 1, 31, 21, 30, 0, 1), "2026-02"),
        ("c", dt.date(2026, 2, 2), 5e-324, dt.datetime(2026, 1, 31, 21, 30, 0, 1), "2026-02"),
    ]
    with pytest.raises(pa.ArrowInvalid, match=r"truncated|would lose data"):
        lake.write_partitions(frame.assign(event_time=frame.event_time + pd.Timedelta(1, "ns")), table)
    assert len(_rows(con, table)) == 3 and _leftovers(table) == []

    lake.write_partitions_from_duckdb(
        con, _events({"2026-01": 9}) + " LIMIT ?", table, parameters=[4], months=["2026-01"]
    )
    assert _counts(con, table) == {"2026-01": 4, "2026-02": 2}
    relation = con.sql(_events({"2026-02": 6}))
    lake.write_partitions_from_duckdb(con, relation, table)
    assert _counts(con, table) == {"2026-01": 4, "2026-02": 6}
    assert not [v for v in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]


def test_same_write_twice_gives_the_same_content(lake_uri: str, con: duckdb.DuckDBPyConnection) -> None:
    table = lake.lake_table(lake_uri, EVENTS)
    query = _events({"2026-01": 300, "2026-02": 200})
    lake.write_partitions_from_duckdb(con, query, table)
    first = {m: _month_rows(con, table, m) for m in ("2026-01", "2026-02")}
    lake.write_partitions_from_duckdb(con, query, table)
    assert {m: _month_rows(con, table, m) for m in ("2026-01", "2026-02")} == first
    assert len(_files(table)) == 2


def _month_rows(con: duckdb.DuckDBPyConnection, table: lake.LakeTable, month: str) -> list[tuple]:
    return con.execute(
        f"SELECT * EXCLUDE ({MONTH_COLUMN}) FROM {lake.duckdb_source(table)} WHERE {MONTH_COLUMN} = ? ORDER BY ALL",
        [month],
    ).fetchall()


# --- recovery -------------------------------------------------------------------------------

# (crash point, which call of it) -> whether the interrupted write was audited, so recovery rolls it forward
CRASHES = {
    ("staged", 1): False,  # aside write done, before the audit
    ("audited", 1): False,  # audit passed, journal not yet publishing
    ("journal_publishing", 1): True,  # journal says publishing, nothing moved yet
    ("between_swap_renames", 1): True,  # first month's old files in the trash, new ones still aside
    ("unit_published", 1): True,  # first month swapped, second not
    ("between_swap_renames", 2): True,  # second month half swapped
    ("trash_deleted", 1): True,  # everything swapped, the trash gone, the aside folder and journal left
}


@pytest.fixture(params=["rename", "copy"])
def moves(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """`rename`: month folders swap with one rename each (local); `copy`: what object storage
    does, every file moved on its own and DuckDB's COPY written to a temporary folder first."""
    if request.param == "copy":
        monkeypatch.setattr(lake, "_renames", lambda fs: False)
        monkeypatch.setattr(lake, "_duckdb_writes_to", lambda fs: False)
    return request.param


@pytest.mark.parametrize(("point", "after"), list(CRASHES))
def test_recovery_after_a_crash_at_each_step(
    lake_uri: str, con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, point: str, after: int, moves: str
) -> None:
    table = lake.lake_table(lake_uri, EVENTS)
    lake.write_partitions_from_duckdb(con, _events({"2026-01": 30, "2026-02": 20, "2026-03": 10}), table)
    old = _rows(con, table)
    _crash_at(monkeypatch, point, after)
    with pytest.raises(Crash):
        lake.write_partitions_from_duckdb(con, _events({"2026-02": 5, "2026-03": 6}, price_offset=500), table)
    monkeypatch.setattr(lake, "_checkpoint", lambda name: None)
    if not CRASHES[(point, after)]:
        assert _rows(con, table) == old  # not published: readers see the previous data
    lake.recover(table)  # as a reader opening the table does: this writer is not running any more
    expected = (
        {"2026-01": 30, "2026-02": 5, "2026-03": 6}
        if CRASHES[(point, after)]
        else {"2026-01": 30, "2026-02": 20, "2026-03": 10}
    )
    assert _counts(con, table) == expected
    assert _leftovers(table) == []
    lake.write_partitions_from_duckdb(con, _events({"2026-03": 2}), table)  # the next write goes through
    assert _counts(con, table)["2026-03"] == 2


@pytest.mark.parametrize(
    ("point", "again"),
    [
        ("journal_publishing", "between_swap_renames"),
        ("between_swap_renames", "between_swap_renames"),
        ("trash_deleted", "trash_deleted"),
    ],
)
def test_unpartitioned_recovery_and_a_crash_during_recovery(
    lake_uri: str, con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, point: str, again: str, moves: str
) -> None:
    table = lake.lake_table(lake_uri, SCORES)
    lake.write_partitions_from_duckdb(con, "SELECT range AS id, range * 0.5 AS score FROM range(10)", table)
    _crash_at(monkeypatch, point)
    with pytest.raises(Crash):
        lake.write_partitions_from_duckdb(con, "SELECT range AS id, range * 0.25 AS score FROM range(4)", table)
    _crash_at(monkeypatch, again)  # recovery itself is killed too
    with pytest.raises(Crash):
        lake.recover(table)
    monkeypatch.setattr(lake, "_checkpoint", lambda name: None)
    result = lake.write_partitions_from_duckdb(con, "SELECT range AS id, range * 0.125 AS score FROM range(3)", table)
    assert len(result.recovered) == 1
    assert _rows(con, table) == [(0, 0.0), (1, 0.125), (2, 0.25)]
    assert _leftovers(table) == []


def test_a_live_writer_is_left_alone_by_readers(lake_uri: str, con: duckdb.DuckDBPyConnection) -> None:
    table = lake.lake_table(lake_uri, EVENTS)
    lake.write_partitions_from_duckdb(con, _events({"2026-01": 3}), table)
    _, base = table.filesystem()
    journal = {"write_id": "20260101T000000000000-feedbeef", "table": EVENTS, "state": "staging", "months": None}
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = Path(base, lake.WAP, f"{journal['write_id']}.json")
        path.parent.mkdir()
        path.write_text(json.dumps({**journal, "host": socket.gethostname(), "pid": live.pid, "started": None}))
        assert lake.recover(table) == []  # its writer runs: not touched
        live.kill()
        live.wait()
        assert lake.recover(table) == [journal["write_id"]]
    finally:
        live.kill()
    assert _leftovers(table) == []
    # a journal a killed writer was still saving is cleared by the next write
    Path(base, lake.WAP).mkdir()
    Path(base, lake.WAP, "20260101T000000000000-0000cafe.json.1234abcd.tmp").write_text("{")
    lake.write_partitions_from_duckdb(con, _events({"2026-01": 2}), table)
    assert _leftovers(table) == []


# --- a real kill ----------------------------------------------------------------------------

WRITER = """
import os, signal, sys
import duckdb
from shop_pipeline.engine import lake

lake_uri, rows, kill_at = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if kill_at != "-":
    def checkpoint(name):
        if name == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    lake._checkpoint = checkpoint
con = duckdb.connect()
con.execute("SET threads = 1")
query = f\"\"\"SELECT 'x' || i AS event_id, DATE '2026-02-01' + (i % 28)::INTEGER AS partition_date,
    random() * 100 AS price, TIMESTAMP '2026-02-01' + to_seconds(i % 2000000) AS event_time,
    md5(i::VARCHAR) AS padding FROM range({rows}) t(i)\"\"\"
lake.write_partitions_from_duckdb(con, query, lake.lake_table(lake_uri, "staging.events"), months=["2026-02"])
"""


def _writer(tmp_path: Path, lake_uri: str, rows: int, kill_at: str = "-") -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(["nice", sys.executable, str(script), lake_uri, str(rows), kill_at], env=env)


def _journal_states(table: lake.LakeTable) -> list[str]:
    _, base = table.filesystem()
    return [json.loads(p.read_text())["state"] for p in Path(base, lake.WAP).glob("*.json")]


def test_sigkill_during_a_partition_write_keeps_the_previous_partition(
    tmp_path: Path, lake_uri: str, con: duckdb.DuckDBPyConnection
) -> None:
    table = lake.lake_table(lake_uri, EVENTS)
    lake.write_partitions_from_duckdb(con, _events({"2026-01": 30, "2026-02": 20}), table)
    _, base = table.filesystem()
    writer = _writer(tmp_path, lake_uri, rows=5_000_000)  # ~12 s alone: killed long before its end
    deadline = time.monotonic() + 60
    try:
        while not any(p.is_dir() for p in Path(base, lake.WAP).glob("*")):  # its aside folder appears
            assert writer.poll() is None, "the writer ended before its aside folder was seen"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(0.2)  # well into the COPY
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    assert _journal_states(table) == [lake.STAGING]  # killed mid-write, not after it
    assert _counts(con, table) == {"2026-01": 30, "2026-02": 20}
    assert pads.dataset(base, format="parquet", partitioning="hive").count_rows() == 50

    result = lake.write_partitions_from_duckdb(con, _events({"2026-02": 7}), table)  # the next run: no manual step
    assert len(result.recovered) == 1
    assert _counts(con, table) == {"2026-01": 30, "2026-02": 7}
    assert not Path(base, lake.WAP).exists() and not Path(base, lake.TRASH).exists()


@pytest.mark.parametrize("point", ["journal_publishing", "between_swap_renames"])
def test_sigkill_during_publish_is_finished_by_the_next_reader(
    tmp_path: Path, lake_uri: str, con: duckdb.DuckDBPyConnection, point: str
) -> None:
    table = lake.lake_table(lake_uri, EVENTS)
    lake.write_partitions_from_duckdb(con, _events({"2026-01": 30, "2026-02": 20}), table)
    writer = _writer(tmp_path, lake_uri, rows=1000, kill_at=point)
    assert writer.wait(timeout=120) == -signal.SIGKILL
    assert _journal_states(table) == [lake.PUBLISHING]
    assert lake.recover(table) != []  # its process is gone: a reader finishes the publish
    assert _counts(con, table) == {"2026-01": 30, "2026-02": 1000}
    assert _leftovers(table) == []
