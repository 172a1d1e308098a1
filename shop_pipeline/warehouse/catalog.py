"""Loading the side files: product catalog, ad spend and promotions (small, replaced whole).

Each side file has a key (catalog: product_id; ad spend: date + category; promotions:
product_id + start_date). A line whose values do not parse, whose key is empty, or that repeats
an earlier line exactly is set aside in raw.side_file_rejects with its file, line and reason; a
line that gives a key already given other values (a conflict nobody can settle by rule: which
price is right?) fails the load, naming both lines, and the last good table stays. The files are
small, so Python's csv module reads them: it numbers every physical line, quoted newlines included.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import transaction

REJECTS_TABLE = "raw.side_file_rejects"  # DDL: sql/tables/raw.side_file_rejects.sql
EXAMPLES = 5


class SideFileError(Exception):
    """The side file cannot be loaded as a whole; the message names the file, lines and reason."""


def _text(value: str) -> str:
    return value


def _number(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _day(value: str) -> dt.date:
    return dt.date.fromisoformat(value.strip())


_TYPE_WORDS = {_text: "text", _number: "a number", _day: "a date YYYY-MM-DD"}


@dataclass(frozen=True)
class SideFile:
    table: str
    columns: dict[str, Callable[[str], object]]
    key: tuple[str, ...]
    optional: tuple[str, ...] = ()  # may be empty (NULL); every other column must have a value


CATALOG = SideFile(
    "raw.products",
    {"product_id": _text, "name": _text, "category": _text, "brand": _text, "base_price": _number, "launched_on": _day},
    key=("product_id",),
    optional=("name", "category", "brand", "base_price", "launched_on"),
)
AD_SPEND = SideFile("raw.ad_spend", {"date": _day, "category": _text, "ad_spend": _number}, key=("date", "category"))
PROMOTIONS = SideFile(
    "raw.promotions",
    {"product_id": _text, "start_date": _day, "end_date": _day, "discount_pct": _number},
    key=("product_id", "start_date"),
)


@dataclass
class SideFileLoad:
    rows: int
    rejects: list[tuple[int, str, str]]  # (line, reason, raw record)


def read_side_file(path: Path, spec: SideFile, name: str) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """The file's valid rows (first of each key) and its rejected lines; SideFileError for a conflict."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise SideFileError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = [column.strip().lower() for column in next(reader, [])]
            missing = [c for c in spec.columns if c not in header]
            if missing:
                raise SideFileError(f"{name} line 1: missing columns {', '.join(missing)} (header: {','.join(header)})")
            positions = {column: header.index(column) for column in spec.columns}
            rows, rejects, first_line_of, conflicts = [], [], {}, []
            start = reader.line_num + 1
            for fields in reader:
                line = start
                start = reader.line_num + 1
                if not any(field.strip() for field in fields):
                    continue  # blank line
                raw = ",".join(fields)
                if len(fields) != len(header):
                    rejects.append((line, f"{len(fields)} fields, the header has {len(header)}", raw))
                    continue
                values, problem = _parse(fields, positions, spec)
                if problem:
                    rejects.append((line, problem, raw))
                    continue
                key = tuple(values[c] for c in spec.key)
                if key in first_line_of:
                    first_line, first_values = first_line_of[key]
                    if first_values == values:
                        rejects.append((line, f"repeats line {first_line} ({_describe(spec, key)})", raw))
                    else:
                        conflicts.append(
                            f"line {line} gives {_describe(spec, key)} other values than line {first_line}"
                        )
                    continue
                first_line_of[key] = (line, values)
                rows.append(values)
        except csv.Error as exc:
            raise SideFileError(f"{name} line {reader.line_num}: not valid CSV ({exc})") from exc
    if conflicts:
        more = f" (and {len(conflicts) - EXAMPLES} more)" if len(conflicts) > EXAMPLES else ""
        raise SideFileError(
            f"{name}: conflicting lines, nothing loaded (the last good {spec.table} stays): "
            + "; ".join(conflicts[:EXAMPLES])
            + more
        )
    return pd.DataFrame(rows, columns=list(spec.columns)), rejects


def _parse(fields: list[str], positions: dict[str, int], spec: SideFile) -> tuple[dict, str | None]:
    values = {}
    for column, parse in spec.columns.items():
        text = fields[positions[column]].strip()
        if not text:
            if column not in spec.optional:
                return values, f"{column} is empty"
            values[column] = None
            continue
        try:
            values[column] = parse(text)
        except ValueError:
            return values, f"{column} {text!r} is not {_TYPE_WORDS[parse]}"
    return values, None


def _describe(spec: SideFile, key: tuple) -> str:
    return ", ".join(f"{column} {value}" for column, value in zip(spec.key, key))


def load_side_file(con: duckdb.DuckDBPyConnection, path: Path, spec: SideFile, name: str) -> SideFileLoad:
    """Replace spec.table with the file's rows and its rejects, in one transaction.

    A missing file leaves the table as it is. SideFileError leaves both tables as they were.
    """
    ddl.create(con, REJECTS_TABLE)
    if not path.is_file():
        return SideFileLoad(con.execute(f"SELECT count(*) FROM {spec.table}").fetchall()[0][0], [])
    frame, rejects = read_side_file(path, spec, name)
    reject_frame = pd.DataFrame(rejects, columns=["line", "reason", "raw_record"]).assign(file=name)
    with transaction(con):
        con.execute(f"DELETE FROM {spec.table}")  # table names are this module's constants
        con.register("side_file_rows", frame)
        con.execute(f"INSERT INTO {spec.table} BY NAME SELECT * FROM side_file_rows")
        con.unregister("side_file_rows")
        con.execute("DELETE FROM raw.side_file_rejects WHERE file = ?", [name])
        con.register("side_file_reject_rows", reject_frame)
        con.execute("INSERT INTO raw.side_file_rejects BY NAME SELECT * FROM side_file_reject_rows")
        con.unregister("side_file_reject_rows")
    return SideFileLoad(len(frame), rejects)


def load_catalog(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    return load_side_file(con, path, CATALOG, "catalog/products.csv").rows


def load_marketing(con: duckdb.DuckDBPyConnection, ad_spend: Path, promotions: Path) -> tuple[int, int]:
    return (
        load_side_file(con, ad_spend, AD_SPEND, "marketing/ad_spend.csv").rows,
        load_side_file(con, promotions, PROMOTIONS, "marketing/promotions.csv").rows,
    )
