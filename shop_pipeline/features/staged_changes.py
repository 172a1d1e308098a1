"""Since when the staged events a feature table was built from have changed.

A feature whose row never depends on later events (an order's features look only at what
happened up to the order) need not be recomputed for rows before the earliest event that
changed. What changed is found from the data itself, whoever wrote staging.events (a daily
run, a backfill, a re-staged partition, a hand-made fix): each build records one fingerprint
per partition (events, first event time, XOR of the rows' hashes); the next build compares
them with the partitions as they are now. A new, removed or changed partition moves `since`
back to the first event time it had or has; moving the cut-off forward moves it back to the
previous cut-off (orders between the two cut-offs are new).

Table names are the project's constants; values reach DuckDB only as parameters.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb

_FINGERPRINTS = """
CREATE OR REPLACE TEMP TABLE staged_fingerprints AS
SELECT
    partition_date,
    count(*) AS events,
    min(event_time) AS first_event_time,
    bit_xor(hash(event_id, event_time, event_type, user_id, session_id, product_id, category, brand, price,
                 quantity, order_id, is_late)) AS fingerprint
FROM staging.events
WHERE partition_date <= $as_of
GROUP BY partition_date
"""

_CHANGED_FROM = """
SELECT min(least(c.first_event_time, s.first_event_time))
FROM temp.staged_fingerprints AS c
FULL OUTER JOIN (SELECT * FROM features.built_partitions WHERE table_name = $table) AS s
    ON s.partition_date = c.partition_date
WHERE c.fingerprint IS DISTINCT FROM s.fingerprint OR c.events IS DISTINCT FROM s.events
"""


def changed_since(con: duckdb.DuckDBPyConnection, table: str, as_of: dt.date, parameters: dict,
                  ) -> dt.datetime | None:
    """The earliest instant from which rows of `table` may differ from its last build; None:
    every row may (never built this way, built with other parameters, or for a later as_of:
    a cut-off moved back, rows after it must go)."""
    from shop_pipeline.features.tables import cutoff_for

    con.execute(_FINGERPRINTS, {"as_of": as_of})
    last = con.execute("SELECT as_of, parameters FROM features.table_builds WHERE table_name = ?", [table]).fetchone()
    if last is None or last[0] > as_of or json.loads(last[1]) != _plain(parameters):
        return None
    [(changed_from,)] = con.execute(_CHANGED_FROM, {"table": table}).fetchall()
    previous_cutoff = cutoff_for(last[0])
    return previous_cutoff if changed_from is None else min(previous_cutoff, changed_from)


def record_build(con: duckdb.DuckDBPyConnection, table: str, as_of: dt.date, parameters: dict) -> None:
    """Remember what `table` now reflects (in the write's transaction, after changed_since)."""
    con.execute("INSERT OR REPLACE INTO features.table_builds VALUES (?, ?, ?)",
                [table, as_of, json.dumps(_plain(parameters), sort_keys=True)])
    con.execute("DELETE FROM features.built_partitions WHERE table_name = ?", [table])
    con.execute("INSERT INTO features.built_partitions SELECT ?, * FROM temp.staged_fingerprints", [table])


def _plain(parameters: dict) -> dict:
    return json.loads(json.dumps(parameters, sort_keys=True, default=str))
