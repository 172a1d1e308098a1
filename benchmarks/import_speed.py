"""Import benchmark: `shop-pipeline import` on synthetic REES46 and generic CSV files.

The inputs are generated deterministically by one DuckDB COPY each (no randomness: every
value is a function of the row number), cached under data/bench/import/ and reused when
present. Each import runs in its own process (wall time, peak RSS of that process) into a
fresh landing folder. The target is the pipeline's own ingestion speed (README: 10M events
through ingest + staging in 252.5 s, about 40k events/s): an import must be at least as fast,
with memory bounded by DuckDB's memory_limit (SHOP_PIPELINE_DUCKDB_MEMORY_LIMIT, 3GB).
The floor row is DuckDB alone copying the same CSV into one Parquet file, no mapping.

Usage: python benchmarks/import_speed.py [--rows 1000000 10000000] [--days 30] [--excel-rows 200000] [--keep]
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb
from harness import timed

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "data" / "bench" / "import"
SHOP_PIPELINE = str(Path(sys.executable).with_name("shop-pipeline"))
INGESTION_EVENTS_PER_S = 10_000_000 / 252.5  # README, ingestion benchmark at 10M events

# Row i happens at i * span / rows seconds after the start: sorted by time, `days` days long.
REES46_SQL = """
COPY (
    SELECT strftime(TIMESTAMP '2019-10-01' + to_microseconds(CAST(CAST(i AS HUGEINT) * $span_us // $rows AS BIGINT)),
                    '%Y-%m-%d %H:%M:%S') || ' UTC' AS event_time,
           ['view', 'view', 'view', 'view', 'view', 'view', 'cart', 'remove_from_cart', 'purchase', 'view'][i % 10 + 1]
               AS event_type,
           1000000 + (i * 7919) % 50000 AS product_id,
           2053013555631882655 + (i * 7919) % 50000 % 300 AS category_id,
           CASE WHEN i % 3 <> 0 THEN 'electronics.smartphone' END AS category_code,
           CASE WHEN i % 5 <> 0 THEN 'brand' || (i * 7919) % 50000 % 97 END AS brand,
           round(1 + (i * 7919) % 50000 % 1000 + 0.99, 2) AS price,
           500000000 + (i * 104729) % 400000 AS user_id,
           md5(CAST((i * 104729) % 400000 AS VARCHAR) || '-' || CAST(i // 5000 AS VARCHAR)) AS user_session
    FROM range($rows) AS t(i)
) TO '{path}' (FORMAT csv, HEADER true)
"""

GENERIC_SQL = """
COPY (
    SELECT 'o' || (i // 3) AS order_no,
           'c' || (i * 104729) % 400000 AS customer,
           'sku-' || (i * 7919) % 50000 AS sku,
           strftime(TIMESTAMP '2024-03-01' + to_microseconds(CAST(CAST(i AS HUGEINT) * $span_us // $rows AS BIGINT)),
                    '%Y-%m-%dT%H:%M:%S') || '+01:00' AS ordered_at,
           1 + i % 4 AS qty,
           round(1 + (i * 7919) % 50000 % 500 + 0.5, 2) AS unit_price
    FROM range($rows) AS t(i)
) TO '{path}' (FORMAT csv, HEADER true)
"""

GENERIC_MAPPING = """columns:
  order_id: order_no
  user_id: customer
  product_id: sku
  event_time: ordered_at
  quantity: qty
  price: unit_price
constants:
  event_type: purchase
"""


def source_file(fmt: str, rows: int, days: int) -> Path:
    """The cached synthetic input (generated once: same rows and days -> same bytes)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{fmt}_{rows}_{days}d.csv"
    if not path.exists():
        part = path.with_name(path.name + ".tmp")
        statement = (REES46_SQL if fmt == "rees46" else GENERIC_SQL).format(path=str(part).replace("'", "''"))
        con = duckdb.connect()
        con.execute("SET preserve_insertion_order = true")
        con.execute(statement, {"rows": rows, "span_us": days * 86_400_000_000})
        con.close()
        part.replace(path)
    if fmt == "generic":
        (CACHE / "generic_mapping.yaml").write_text(GENERIC_MAPPING)
    return path


def workbook_file(rows: int) -> Path:
    """A cached Online Retail II-like workbook: two sheets of rows // 2 invoice lines each."""
    import datetime as dt

    from openpyxl import Workbook

    path = CACHE / f"online_retail_{rows}.xlsx"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    book = Workbook(write_only=True)  # streams rows to disk
    header = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]
    for name, first in (("Year 2009-2010", 0), ("Year 2010-2011", rows // 2)):
        sheet = book.create_sheet(name)
        sheet.append(header)
        for i in range(first, first + rows // 2):
            sheet.append(
                [
                    489434 + i // 20,
                    str(85000 + i % 3000),
                    "WHITE HANGING HEART T-LIGHT HOLDER",
                    1 + i % 12,
                    dt.datetime(2009, 12, 1) + dt.timedelta(seconds=30 * i),
                    round(0.85 + i % 7, 2),
                    13000.0 + i % 4000,
                    "United Kingdom",
                ]
            )
    part = path.with_name(path.name + ".tmp")
    book.save(part)
    part.replace(path)
    return path


def bench_excel(rows: int, workdir: Path) -> tuple:
    source = workbook_file(rows)
    home = workdir / f"excel-{rows}"
    shutil.rmtree(home, ignore_errors=True)
    seconds, rss = timed(
        [SHOP_PIPELINE, "import", "--format", "online_retail", str(source), "--home", str(home)], echo=False
    )
    shutil.rmtree(home, ignore_errors=True)
    return ("`shop-pipeline import --format online_retail` (.xlsx, 2 sheets)", rows, seconds, rss)


FLOOR = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET memory_limit = '3GB'")
con.execute("COPY (SELECT * FROM read_csv($src, all_varchar = true)) TO '" + sys.argv[2].replace("'", "''")
            + "' (FORMAT parquet)", {"src": sys.argv[1]})
"""


# Lineage check on the output: row i of the source (line i + 1) must be the event `<fmt>:<stem>:<i + 1>`
# with the values generated for i, so a reordering or a lost row fails the benchmark.
LINEAGE_SQL = {
    "generic": "order_id = 'o' || (line - 1) // 3",
    "rees46": "product_id = CAST(1000000 + ((line - 1) * 7919) % 50000 AS VARCHAR)",
}


def verify_lineage(fmt: str, rows: int, landing: Path) -> None:
    files = str(landing / "events" / "*.parquet")
    total, wrong, lines = duckdb.sql(
        f"""SELECT count(*), count(*) FILTER (WHERE NOT ({LINEAGE_SQL[fmt]})), count(DISTINCT line)
            FROM (SELECT *, CAST(split_part(event_id, ':', 3) AS BIGINT) AS line FROM read_parquet('{files}'))"""
    ).fetchall()[0]
    if (total, wrong, lines) != (rows, 0, rows):
        raise SystemExit(f"{fmt}: lineage broken: {total} rows landed, {wrong} with other values, {lines} lines")


def bench(fmt: str, rows: int, days: int, workdir: Path) -> list[tuple]:
    started = time.perf_counter()
    source = source_file(fmt, rows, days)
    generated = time.perf_counter() - started
    home = workdir / f"{fmt}-{rows}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    out = []
    seconds, rss = timed([sys.executable, "-c", FLOOR, str(source), str(home / "floor.parquet")], echo=False)
    out.append((f"floor: DuckDB CSV -> one Parquet ({fmt} file)", rows, seconds, rss))
    command = [SHOP_PIPELINE, "import", "--format", fmt, str(source), "--home", str(home)]
    if fmt == "generic":
        command += ["--mapping", str(CACHE / "generic_mapping.yaml")]
    seconds, rss = timed(command, echo=False)
    landed = len(list((home / "landing" / "events").glob("*.parquet")))
    verify_lineage(fmt, rows, home / "landing")
    out.append((f"`shop-pipeline import --format {fmt}` ({landed} day files)", rows, seconds, rss))
    print(
        f"  ({fmt} {rows:,}: input {source.stat().st_size / 2**20:,.0f} MiB, "
        f"{'generated' if generated > 1 else 'cached'} in {generated:.1f} s)",
        file=sys.stderr,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--formats", nargs="+", default=["generic", "rees46"])
    parser.add_argument(
        "--excel-rows",
        type=int,
        default=0,
        help="also import an Online Retail II-like workbook of this many rows (0: no)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/shop-import-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the landing folders")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, duckdb {duckdb.__version__}; "
        f"target: the ingestion speed, {INGESTION_EVENTS_PER_S:,.0f} rows/s"
    )
    print("| step | rows | seconds | rows/s | peak RSS MiB | vs ingestion speed |")
    print("|---|---|---|---|---|---|")
    for rows in args.rows:
        for fmt in args.formats:
            for name, n, seconds, rss in bench(fmt, rows, args.days, args.workdir):
                ratio = f"{n / seconds / INGESTION_EVENTS_PER_S:.1f}x faster" if "import" in name else ""
                print(f"| {name} | {n:,} | {seconds:.1f} | {n / seconds:,.0f} | {rss:,.0f} | {ratio} |", flush=True)
            if not args.keep:
                shutil.rmtree(args.workdir / f"{fmt}-{rows}", ignore_errors=True)
    if args.excel_rows:
        name, n, seconds, rss = bench_excel(args.excel_rows, args.workdir)
        ratio = f"{n / seconds / INGESTION_EVENTS_PER_S:.2f}x"
        print(f"| {name} | {n:,} | {seconds:.1f} | {n / seconds:,.0f} | {rss:,.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
