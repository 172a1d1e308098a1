"""Retracting a landed file: the one way a published file's events leave the warehouse.

Removing a file from the landing folder keeps its events (history survives a tidy-up). When a
file was wrong, `shop-pipeline retract PATH` removes its rows from raw.* and staging.* in one
transaction, records the file as `retracted` (so the same bytes, still landed, are not read
again; new bytes under that name are a new version), and marks for restaging the days that
held it or held duplicates of its rows (their kept occurrence is gone, so the next run
publishes those events from the other file). Every retraction is appended to
logs/retractions.jsonl.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from shop_pipeline.warehouse.connection import transaction

RETRACTED = "retracted"


class NotIngested(LookupError):
    """The path names no ingested file."""


@dataclass(frozen=True)
class Retraction:
    path: str
    days: list[str]
    raw_events: int
    rejected_lines: int
    clean_events: int
    quarantined_events: int
    duplicate_events: int
    days_to_restage: list[str]
    retracted_at: str
    by: str

    def describe(self) -> str:
        return (
            f"retracted {self.path}: removed {self.raw_events:,} raw events and {self.rejected_lines:,} rejected lines, "
            f"{self.clean_events:,} clean, {self.quarantined_events:,} quarantined and {self.duplicate_events:,} "
            f"duplicate rows from staging; days to stage again: {', '.join(self.days_to_restage) or 'none'} "
            "(`shop-pipeline run` does it and rebuilds what depends on them)"
        )


def landing_relative(path: str, landing: Path) -> str:
    """The warehouse's name of a landed file: a path inside the landing folder, or that name itself."""
    candidate = Path(path)
    for base in (Path.cwd(), landing):
        resolved = (base / candidate).resolve() if not candidate.is_absolute() else candidate.resolve()
        try:
            return resolved.relative_to(landing.resolve()).as_posix()
        except ValueError:
            continue
    return candidate.as_posix()


_FILE_TABLES = (
    "raw.events",
    "raw.rejected_lines",
    "staging.events",
    "staging.quarantined_events",
    "staging.duplicate_events",
)


def _delete_rows_of(con: duckdb.DuckDBPyConnection, table: str, path: str) -> int:
    """Delete the rows `path` brought into `table` (one of _FILE_TABLES); how many there were."""
    return con.execute(f"DELETE FROM {table} WHERE source_file = ?", [path]).fetchone()[0]


def retract(
    con: duckdb.DuckDBPyConnection, path: str, log_file: Path | None = None, now: dt.datetime | None = None
) -> Retraction:
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    days = [
        d
        for (d,) in con.execute(
            "SELECT DISTINCT partition_date FROM raw.ingested_files WHERE path = ? AND status = 'ingested' ORDER BY 1",
            [path],
        ).fetchall()
    ]
    if not days:
        known = con.execute("SELECT DISTINCT status FROM raw.ingested_files WHERE path = ?", [path]).fetchall()
        state = f"its status is {', '.join(s for (s,) in known)}" if known else "no landed file has that name"
        raise NotIngested(f"{path} has no ingested rows to retract ({state})")
    with transaction(con):
        restage = sorted(
            {
                *days,
                *(
                    d
                    for (d,) in con.execute(
                        "SELECT DISTINCT partition_date FROM staging.duplicate_events WHERE kept_source_file = ?",
                        [path],
                    ).fetchall()
                ),
            }
        )
        removed = {table: _delete_rows_of(con, table, path) for table in _FILE_TABLES}
        con.execute(
            """UPDATE raw.ingested_files SET status = ?, error = ?, rows_clean = 0, rows_quarantined = 0,
                      rows_duplicate = 0 WHERE path = ?""",
            [RETRACTED, f"retracted by shop-pipeline retract at {now:%Y-%m-%d %H:%M:%S} UTC", path],
        )
        con.execute("DELETE FROM staging.staged_days WHERE list_contains(?, partition_date)", [restage])
    done = Retraction(
        path=path,
        days=[d.isoformat() for d in days],
        raw_events=removed["raw.events"],
        rejected_lines=removed["raw.rejected_lines"],
        clean_events=removed["staging.events"],
        quarantined_events=removed["staging.quarantined_events"],
        duplicate_events=removed["staging.duplicate_events"],
        days_to_restage=[d.isoformat() for d in restage],
        retracted_at=now.isoformat(),
        by=getpass.getuser(),
    )
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(done), sort_keys=True) + "\n")
    return done
