"""The short report printed after a run: what landed, what was built, which checks passed."""
# Model lines read the registry and the evaluation table; a run of the data groups only has
# neither, and the summary then lists no models.

from __future__ import annotations

import json
from pathlib import Path

from shop_pipeline.ml.models import MODELS
from shop_pipeline.warehouse.connection import connect, table_columns

_FILES = """
SELECT status, count(*) AS files, sum(rows_read) AS rows_read, sum(rows_clean) AS clean,
       sum(rows_quarantined) AS quarantined, sum(rows_duplicate) AS duplicates
FROM raw.ingested_files GROUP BY status ORDER BY status
"""


_TABLES = """
SELECT schema_name, table_name, estimated_size FROM duckdb_tables()
WHERE schema_name IN ('features', 'scoring', 'ml') ORDER BY schema_name, table_name
"""

# The champion of each model, what it serves, its gate metric (the specs', ml/models.py) next to the baselines', and the
# model's latest training attempt: a version trained, or one reused because its training inputs
# were unchanged (reused_at; a registry from before reuse has no such column: $reuse_column false).
_MODELS = """
WITH champions AS (
    SELECT model_name, version, json_extract_string(parameters, '$.serving_candidate') AS serving_candidate
    FROM ml.model_registry WHERE is_champion
),
attempts AS (
    SELECT model_name, version, trained_at AS happened, 'trained' AS how FROM ml.model_registry
    UNION ALL
    SELECT model_name, version, {reused_at}, 'reused' FROM ml.model_registry WHERE {reused_at} IS NOT NULL
),
latest AS (
    SELECT model_name, arg_max(version, row(happened, how = 'reused')) AS latest_version,
           arg_max(how, row(happened, how = 'reused')) AS latest_how
    FROM attempts GROUP BY model_name
),
gate(model_name, metric) AS (SELECT * FROM (VALUES {gate}))
SELECT c.model_name, c.version, c.serving_candidate, g.metric,
       max(e.value) FILTER (WHERE e.candidate = c.serving_candidate),
       string_agg(e.candidate || ' ' || round(e.value, 3), ', ' ORDER BY e.candidate)
           FILTER (WHERE e.candidate NOT IN (c.serving_candidate, 'champion') AND NOT isnan(e.value)),
       l.latest_version, l.latest_how
FROM champions c JOIN gate g USING (model_name) JOIN latest l USING (model_name)
JOIN ml.model_evaluations e ON e.model_name = c.model_name AND e.version = c.version AND e.metric = g.metric
GROUP BY ALL ORDER BY c.model_name
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
        failed = con.execute(
            "SELECT path, error FROM raw.ingested_files WHERE status = 'failed' ORDER BY path"
        ).fetchall()
        tables = con.execute(_TABLES).fetchall()
        models = []
        if ("ml", "model_registry") in {(s, t) for s, t, _ in tables}:
            reused_at = "reused_at" if "reused_at" in table_columns(con, "ml.model_registry") else "NULL::TIMESTAMP"
            gate = ", ".join(["(?, ?)"] * len(MODELS))
            models = con.execute(
                _MODELS.format(reused_at=reused_at, gate=gate),
                [value for spec in MODELS for value in (spec.name, spec.gate_metric)],
            ).fetchall()
    return {
        "by_status": by_status,
        "clean_rows": clean_rows,
        "days": days,
        "first": first,
        "last": last,
        "reasons": reasons,
        "failed": failed,
        "tables": tables,
        "models": models,
        "snapshot": _serving_snapshot(warehouse.parent.parent),
    }


def _serving_snapshot(home: Path) -> dict | None:
    """The manifest of the serving snapshot the online API would load (None before the first)."""
    from shop_pipeline.serving.snapshot import MANIFEST, current_snapshot_dir, serving_root

    try:
        folder = current_snapshot_dir(serving_root(home))
        return None if folder is None else json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def read_tables() -> set[str]:
    """The tables a user reads: the feature tables the models read and every model's score table (not the
    bookkeeping beside them: builds, audits, inputs, partitions, score builds)."""
    features = {
        table
        for spec in MODELS
        for table in (*spec.training_inputs, *spec.scoring_inputs)
        if table.startswith("features.")
    }
    return features | {spec.score_table for spec in MODELS}


def _latest_attempt(champion: str, latest: str, how: str) -> str:
    """What the model's latest training did: trained the champion, reused it, or another version."""
    if latest == champion:
        return "reused (training inputs unchanged)" if how == "reused" else "trained"
    return f"{how} {latest}{' (training inputs unchanged)' if how == 'reused' else ''}, not promoted"


def format_summary(summary: dict, checks: list[tuple[str, bool]], seconds: float, skipped=()) -> str:
    """The report; `skipped` are the one-line `skipped <model step>: <reason>` of models the data was too
    short for (pipeline_run.SkippedModel.describe), printed as they are, one per line."""
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
    shown = [(schema, name, rows) for schema, name, rows in summary["tables"] if f"{schema}.{name}" in read_tables()]
    if shown:
        lines.append("tables:       " + ", ".join(f"{schema}.{name} ({rows:,})" for schema, name, rows in shown))
    for model, version, serving, metric, value, others, latest, how in summary["models"]:
        lines.append(
            f"model:        {model} {version} serves {serving}: {metric} {value:.3f}"
            + (f" (others: {others})" if others else "")
            + "; "
            + _latest_attempt(version, latest, how)
        )
    snapshot = summary.get("snapshot")
    if snapshot:
        rows = snapshot.get("rows", {})
        parts = [
            f"{rows.get('customer_scores', 0):,} customers' scores",
            f"{rows.get('recommendations', 0):,} list rows",
        ]
        parts += [spec.name.replace("_", " ") for spec in MODELS if spec.name in snapshot]
        lines.append(f"serving:      snapshot {snapshot['snapshot_id']} ({', '.join(parts)}): `shop-pipeline serve`")
    lines.extend(skipped)
    passed = sum(1 for _, ok in checks if ok)
    lines.append(
        f"checks:       {passed}/{len(checks)} passed"
        + "".join(f"\n  {'PASS' if ok else 'FAIL'} {name}" for name, ok in checks)
    )
    lines.append(f"wall time:    {seconds:.1f} s")
    return "\n".join(lines)
