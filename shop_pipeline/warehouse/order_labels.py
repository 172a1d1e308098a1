"""Chargeback labels: landing/labels/*.csv -> raw.order_labels (+ raw.order_label_rejects).

The landing file (one or more, any name ending in .csv, directly in the labels folder):

    order_id,is_fraud,reported_on
    o00000142,1,2025-01-09

- order_id:    the order the report is about (the order_id of the purchase events)
- is_fraud:    1 / true = a chargeback or confirmed fraud; 0 / false = a report that clears the
               order (e.g. a dispute won, a manual review); any case
- reported_on: the day the shop learned it (ISO date). It decides when the label may be used:
               a model trained at as_of sees only reports with reported_on <= as_of.
- more columns may follow in any order (ignored); the header names the three above.

Orders without any report are not in the file: whether they count as legitimate is decided
when training (an order is "mature" once enough days have passed for its chargeback to have
arrived; see ml/order_risk/data.py), not here.

Loading replaces both tables whole from the files currently in the folder, in one transaction
(the tables mirror the folder: a removed file removes its labels; no files, no labels).
Nothing is dropped silently: each data line becomes a label row or a reject row with
reason_code / reason; a file whose header lacks a required column (or is empty, or not UTF-8,
or that DuckDB cannot read at all) is rejected whole as one reject row (line 1 for the header,
line 0 for an unreadable file) whose reason says how many data lines were not loaded. The file
path is a DuckDB parameter; no value is ever spliced into SQL.

Reject reasons: blank_line, malformed_line (wrong field count), invalid_encoding,
missing_order_id, missing_is_fraud, invalid_is_fraud, missing_reported_on,
unparseable_reported_on, bad_header, unreadable_file.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from shop_pipeline import sql
from shop_pipeline.sources.landing import fingerprint, read_first_line
from shop_pipeline.sources.native import drop_reader_rejects, glob_escaped
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import transaction

LABELS_SUBFOLDER = "labels"  # under $SHOP_PIPELINE_HOME/landing
LABEL_COLUMNS = ("order_id", "is_fraud", "reported_on")
ORDER_LABELS_TABLE = "raw.order_labels"
ORDER_LABEL_REJECTS_TABLE = "raw.order_label_rejects"  # DDL of both: sql/tables/


@dataclass(frozen=True)
class LabelLoad:
    """What one load did: files read, label rows kept, rejects by reason_code."""

    files: list[str]
    rows: int
    rejected: int
    reasons: dict[str, int] = field(default_factory=dict)


def label_files(labels_dir: Path) -> list[Path]:
    """The *.csv files directly in labels_dir, sorted by name; hidden and in-progress files
    (.tmp, .part) are ignored, and a missing folder has none."""
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        return []
    return sorted(
        p for p in labels_dir.iterdir() if p.is_file() and p.suffix.lower() == ".csv" and not p.name.startswith(".")
    )


def _header_positions(path: Path) -> tuple[dict[str, int] | None, int, str]:
    """(column -> 1-based position, field count, problem); positions None when unusable."""
    first = read_first_line(path)
    if not first.strip():
        return None, 0, "empty file: no header line"
    try:
        text = first.decode("utf-8").rstrip("\r\n").lstrip("\ufeff")
    except UnicodeDecodeError:
        return None, 0, "header line is not valid UTF-8"
    names = [n.strip().lower() for n in next(csv.reader([text]))]
    missing = [c for c in LABEL_COLUMNS if c not in names]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if missing or repeated:
        problem = "; ".join(
            ([f"missing columns {', '.join(missing)}"] if missing else [])
            + ([f"repeated columns {', '.join(repeated)}"] if repeated else [])
        )
        return None, len(names), f"{problem} (header {text[:200]!r}; expected {','.join(LABEL_COLUMNS)})"
    return {c: names.index(c) + 1 for c in LABEL_COLUMNS}, len(names), ""


def _reject_file(
    con: duckdb.DuckDBPyConnection, source: str, line: int, record: str | None, code: str, reason: str
) -> None:
    con.execute(
        "INSERT INTO order_label_staged (source_file, line, raw_record, reason_code, reason) VALUES (?, ?, ?, ?, ?)",
        [source, line, record, code, reason],
    )


def _stage_file(con: duckdb.DuckDBPyConnection, path: Path, source: str) -> None:
    total_lines = fingerprint(path).line_count
    data_lines = max(total_lines - 1, 0)
    positions, field_count, problem = _header_positions(path)
    if positions is None:
        header = read_first_line(path).decode("utf-8", errors="replace").rstrip("\r\n")
        _reject_file(
            con, source, 1, header or None, "bad_header", f"file skipped, {data_lines} data lines not loaded: {problem}"
        )
        return
    drop_reader_rejects(con)
    try:
        con.execute(sql.load("read_lines"), {"path": glob_escaped(path)})
        con.execute(sql.load("number_lines"), {"total_lines": total_lines})
    except duckdb.InvalidInputException as exc:  # e.g. LF and CRLF line endings mixed in one file
        _reject_file(
            con,
            source,
            0,
            None,
            "unreadable_file",
            f"file skipped, {data_lines} data lines not loaded: {str(exc).splitlines()[0]}",
        )
        return
    params = {f"pos_{c}": p for c, p in positions.items()}
    con.execute(sql.load("order_label_rows"), {**params, "source_file": source, "field_count": field_count})


def load_order_labels(con: duckdb.DuckDBPyConnection, labels_dir: Path) -> LabelLoad:
    """Replace raw.order_labels and raw.order_label_rejects with the files of `labels_dir`
    (normally $SHOP_PIPELINE_HOME/landing/labels), both tables in one transaction.

    source_file is recorded relative to labels_dir's parent (the landing folder), e.g.
    'labels/chargebacks.csv'. Returns counts; see the module docstring for the rules.
    """
    labels_dir = Path(labels_dir)
    files = label_files(labels_dir)
    con.execute(sql.load("order_label_staged"))
    sources = []
    for path in files:
        source = path.relative_to(labels_dir.parent).as_posix()
        sources.append(source)
        _stage_file(con, path, source)
    with transaction(con):
        ddl.replace(con, ORDER_LABELS_TABLE)
        ddl.replace(con, ORDER_LABEL_REJECTS_TABLE)
        con.execute(
            f"""INSERT INTO {ORDER_LABELS_TABLE} BY NAME
                SELECT order_id, is_fraud, reported_on, source_file, line FROM order_label_staged
                WHERE reason_code IS NULL ORDER BY source_file, line"""
        )
        con.execute(
            f"""INSERT INTO {ORDER_LABEL_REJECTS_TABLE} BY NAME
                SELECT source_file, line, raw_record, reason_code, reason FROM order_label_staged
                WHERE reason_code IS NOT NULL ORDER BY source_file, line"""
        )
    rows = con.execute(f"SELECT count(*) FROM {ORDER_LABELS_TABLE}").fetchall()[0][0]
    reasons = Counter(
        dict(
            con.execute(
                f"SELECT reason_code, count(*) FROM {ORDER_LABEL_REJECTS_TABLE} GROUP BY ALL ORDER BY ALL"
            ).fetchall()
        )
    )
    con.execute("DROP TABLE IF EXISTS order_label_staged")
    return LabelLoad(sources, int(rows), int(sum(reasons.values())), dict(sorted(reasons.items())))


def labels_table_exists(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = 'order_labels'"
        ).fetchall()[0][0]
    )


def known_labels_frame(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    """Labels known by `as_of`: one row per reported order (order_id, is_fraud int8 0/1,
    reported_on datetime.date), its latest report on or before as_of (see sql/order_labels_known.sql).
    Empty when nothing was reported by then, or when raw.order_labels was never loaded."""
    if not labels_table_exists(con):
        return pd.DataFrame(
            {
                "order_id": pd.Series(dtype=object),
                "is_fraud": pd.Series(dtype="int8"),
                "reported_on": pd.Series(dtype=object),
            }
        )
    frame = con.execute(sql.load("order_labels_known"), {"as_of": as_of}).df()
    frame["is_fraud"] = frame["is_fraud"].astype("int8")
    frame["reported_on"] = pd.to_datetime(frame["reported_on"]).dt.date
    return frame
