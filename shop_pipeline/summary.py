"""The short report printed after a run: what landed, what was built, which checks passed."""

from __future__ import annotations

from pathlib import Path

from shop_pipeline.warehouse.connection import connect

_FILES = """
SELECT status, count(*) AS files, sum(rows_read) AS rows_read, sum(rows_clean) AS clean,
       sum(rows_quarantined) AS quarantined, sum(rows_duplicate) AS duplicates
FROM raw.ingested_files GROUP BY status ORDER BY status
"""


def warehouse_summary(warehouse: Path) -> dict:
    with connect(warehouse) as con:
        by_status = con.execute(_FILES).df()
        clean_rows, days, first, last = con.execute(
            "SELECT count(*), count(DISTINCT partition_date), min(event_time), max(event_time) FROM staging.events"
        ).fetchall()[0]
        reasons = con.execute(
            "SELECT reason_code, count(*) AS n FROM staging.quarantined_events GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        failed = con.execute("SELECT path, error FROM raw.ingested_files WHERE status = 'failed' ORDER BY path").fetchall()
    return {"by_status": by_status, "clean_rows": clean_rows, "days": days, "first": first, "last": last,
            "reasons": reasons, "failed": failed}


def format_summary(summary: dict, checks: list[tuple[str, bool]], seconds: float) -> str:
    frame = summary["by_status"]
    total = frame[["files", "rows_read", "clean", "quarantined", "duplicates"]].fillna(0).sum()
    lines = [
        "",
        "shop_pipeline run summary",
        "=========================",
        f"files:        {int(total['files'])} landed ("
        + ", ".join(f"{int(r.files)} {r.status}" for r in frame.itertuples())
        + ")",
        f"rows read:    {int(total['rows_read']):,}",
        f"clean:        {int(total['clean']):,} events over {summary['days']} days "
        f"({summary['first']} .. {summary['last']} UTC)",
        f"quarantined:  {int(total['quarantined']):,}"
        + (" (" + ", ".join(f"{code} {n}" for code, n in summary["reasons"]) + ")" if summary["reasons"] else ""),
        f"duplicates:   {int(total['duplicates']):,} rows dropped (including whole replayed files)",
    ]
    for path, error in summary["failed"]:
        lines.append(f"failed file:  {path}: {error}")
    passed = sum(1 for _, ok in checks if ok)
    lines.append(f"checks:       {passed}/{len(checks)} passed" + "".join(
        f"\n  {'PASS' if ok else 'FAIL'} {name}" for name, ok in checks))
    lines.append(f"wall time:    {seconds:.1f} s")
    return "\n".join(lines)
