"""The polars floor: the same work as duckdb_floor.py with polars, written to a DuckDB table.

All event CSVs read lazily as text, typed (UTC timestamps, numbers), the staging rules applied
(the default thresholds), the first row per event_id kept, the result inserted into DuckDB
through Arrow. Usage: python benchmarks/polars_floor.py LANDING_DIR DB_FILE
"""

import sys
from pathlib import Path

import duckdb
import polars as pl

from shop_pipeline.contracts import EVENT_COLUMNS, EVENT_TYPES

COLUMNS = list(EVENT_COLUMNS)  # the canonical clean event, as the pipeline reads it


def frame(files: list[str]) -> pl.DataFrame:
    raw = pl.scan_csv(
        files,
        has_header=True,
        schema={c: pl.String for c in COLUMNS},
        quote_char=None,
        truncate_ragged_lines=True,
        ignore_errors=True,
        encoding="utf8-lossy",
        include_file_paths="source_file",
    )
    day = pl.col("source_file").str.extract(r"(\d{4}-\d{2}-\d{2})", 1).str.to_date("%Y-%m-%d")
    start = day.cast(pl.Datetime("us", "UTC"))
    typed = raw.with_columns(
        partition_date=day,
        event_time=pl.col("event_time").str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%#z", time_zone="UTC", strict=False, time_unit="us"
        ),
        price=pl.col("price").cast(pl.Float64, strict=False),
        quantity=pl.col("quantity").fill_null("1").cast(pl.Int32, strict=False),
    )
    rules = (
        pl.col("event_id").is_not_null()
        & pl.col("user_id").is_not_null()
        & pl.col("product_id").is_not_null()
        & pl.col("event_type").is_in(list(EVENT_TYPES))
        & (pl.col("event_time") >= start - pl.duration(days=3))
        & (pl.col("event_time") < start + pl.duration(days=1, minutes=60))
        & pl.col("price").is_between(0, 100_000)
        & pl.col("price").is_not_nan()
        & pl.col("quantity").is_between(1, 1000)
        & ((pl.col("event_type") != "purchase") | pl.col("order_id").is_not_null())
    )
    return (
        typed.with_columns(start=start)
        .filter(rules)
        .drop("start")
        .unique(subset=["event_id"], keep="first", maintain_order=True)
        .with_columns(pl.col("event_time").dt.replace_time_zone(None))
        .collect()
    )


def main() -> None:
    landing, database = Path(sys.argv[1]), Path(sys.argv[2])
    # files with the canonical header (the pipeline records a schema-drift file as failed)
    header = ",".join(COLUMNS).encode()
    files = sorted(str(p) for p in (landing / "events").glob("*.csv") if p.open("rb").readline().strip() == header)
    events = frame(files).to_arrow()  # noqa: F841 (read by name: DuckDB's replacement scan)
    database.unlink(missing_ok=True)
    con = duckdb.connect(str(database))
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    print(con.execute("SELECT count(*) FROM events").fetchall()[0][0])


if __name__ == "__main__":
    main()
