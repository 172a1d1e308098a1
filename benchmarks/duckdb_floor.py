"""The DuckDB floor: what DuckDB alone needs for the work ingestion + staging do, as one plain script.

All event CSVs of the landing folder, read in one multi-file read_csv, typed (UTC timestamps,
numbers), the staging rules applied (sql/stage_events.sql's, with the default thresholds),
the first row per event_id kept (QUALIFY row_number() = 1), written to a DuckDB table.
No line numbers, no quarantine, no audit, no orchestration.
Usage: python benchmarks/duckdb_floor.py LANDING_DIR DB_FILE
"""

import sys
from pathlib import Path

import duckdb

from shop_pipeline.contracts import EVENT_COLUMNS

COLUMNS = list(EVENT_COLUMNS)  # the canonical clean event, as the pipeline reads it

FLOOR_SQL = """
CREATE OR REPLACE TABLE events AS
WITH typed AS (
    SELECT
        CAST(regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})', 1) AS DATE) AS partition_date,
        event_id,
        try_cast(event_time AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS event_time,
        event_type, user_id, session_id, product_id, category, brand,
        try_cast(price AS DOUBLE) AS price,
        CASE WHEN quantity IS NULL THEN 1 ELSE try_cast(quantity AS INTEGER) END AS quantity,
        order_id, filename AS source_file
    FROM read_csv($files, columns = $columns, header = true, auto_detect = false, delim = ',',
                  quote = '', escape = '', ignore_errors = true, filename = true)
)
SELECT * FROM typed
WHERE event_id IS NOT NULL AND user_id IS NOT NULL AND product_id IS NOT NULL
  AND event_type IN ('view', 'cart', 'remove_from_cart', 'purchase')
  AND event_time >= CAST(partition_date AS TIMESTAMP) - INTERVAL 3 DAY
  AND event_time < CAST(partition_date AS TIMESTAMP) + INTERVAL 1 DAY + INTERVAL 60 MINUTE
  AND price BETWEEN 0 AND 100000 AND NOT isnan(price)
  AND quantity BETWEEN 1 AND 1000
  AND (event_type <> 'purchase' OR order_id IS NOT NULL)
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY partition_date, source_file) = 1
"""


def main() -> None:
    landing, database = Path(sys.argv[1]), Path(sys.argv[2])
    # files with the canonical header (the pipeline records a schema-drift file as failed)
    header = ",".join(COLUMNS).encode()
    files = sorted(str(p) for p in (landing / "events").glob("*.csv") if p.open("rb").readline().strip() == header)
    database.unlink(missing_ok=True)
    con = duckdb.connect(str(database))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(FLOOR_SQL, {"files": files, "columns": {c: "VARCHAR" for c in COLUMNS}})
    print(con.execute("SELECT count(*) FROM events").fetchall()[0][0])


if __name__ == "__main__":
    main()
