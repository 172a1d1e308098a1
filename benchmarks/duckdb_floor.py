"""The floor: what DuckDB alone needs to read the same landing files and deduplicate them.

One SQL script, no validation, no orchestration: read every event CSV, keep the first row
per event_id, write an events table. Usage: python benchmarks/duckdb_floor.py LANDING_DIR DB_FILE
"""

import sys
from pathlib import Path

import duckdb

FLOOR_SQL = """
CREATE OR REPLACE TABLE events AS
SELECT *
FROM read_csv($files, header = true, filename = true, ignore_errors = true, all_varchar = true, union_by_name = true)
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY filename) = 1
"""


def main() -> None:
    landing, database = Path(sys.argv[1]), Path(sys.argv[2])
    files = sorted(str(p) for p in (landing / "events").glob("events_*.csv"))
    con = duckdb.connect(str(database))
    con.execute(FLOOR_SQL, {"files": files})
    print(con.execute("SELECT count(*) FROM events").fetchall()[0][0])


if __name__ == "__main__":
    main()
