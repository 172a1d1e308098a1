"""Landed event files without some customers' lines: the file part of an erasure (forget.py).

`stage_rewrite` writes the file's bytes minus every line (CSV, JSON Lines) or row (Parquet) that
holds one of the ids as a whole field value (a CSV field, a JSON value, a Parquet user_id) into a
hidden file beside it (discovery ignores names starting with '.'); `put_in_place` then replaces
the landed file with it in one rename, keeping the original modification time (a file's day and
arrival order may come from it). Kept lines keep their bytes. The removed data lines are returned
1-based as ingestion numbers them (the line after a CSV header is line 1), so the warehouse can
drop exactly those lines' rejects and quarantine rows too. `stage_rewrite_lines` does the same for
lines given by number (the retention purge's expired lines, retention.py).
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from shop_pipeline.sources.landing import SUPPORTED_SUFFIXES, Fingerprint, fingerprint

_TOKENS = re.compile(r'[,"{}\[\]\s]+')


@dataclass(frozen=True)
class StagedRewrite:
    target: Path
    staged: Path
    removed_lines: tuple[int, ...]  # 1-based data lines (Parquet: rows) of the original file
    original: Fingerprint
    rewritten: Fingerprint
    modified_ns: int


def _csv_fields(text: str) -> set[str]:
    try:
        rows = list(csv.reader([text]))
    except csv.Error:
        rows = []
    return {field.strip() for row in rows for field in row} | set(_TOKENS.split(text))


def _json_fields(text: str) -> set[str]:
    try:
        value = json.loads(text)
    except ValueError:
        return set(_TOKENS.split(text))
    found: set[str] = set()
    pending = [value]
    while pending:  # every scalar value, nested ones too (a logged request holds the ids)
        item = pending.pop()
        if isinstance(item, dict):
            pending += item.values()
        elif isinstance(item, list):
            pending += item
        elif isinstance(item, str | int) and not isinstance(item, bool):
            found.add(str(item).strip())
    return found


def _text_lines(path: Path, drop, header: bool) -> tuple[bytes, list[int]]:
    """The file's bytes without the data lines `drop(number, text)` selects (number 1-based, as
    ingestion numbers them), and those numbers."""
    kept, removed = [], []
    for index, raw in enumerate(path.read_bytes().splitlines(keepends=True)):
        if header and index == 0:
            kept.append(raw)
            continue
        number = index if header else index + 1
        if drop(number, raw.decode("utf-8", errors="replace").rstrip("\r\n")):
            removed.append(number)
        else:
            kept.append(raw)
    return b"".join(kept), removed


def stage_rewrite(path: Path, ids: frozenset[str], tag: str) -> StagedRewrite | None:
    """The landed file `path` without the lines of `ids`, staged beside it; None when it has none."""
    file_format = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if file_format is None or not ids:
        return None
    fields = _csv_fields if file_format == "csv" else _json_fields
    return _stage(path, file_format, tag, lambda number, text: bool(fields(text) & ids), ("user_id", ids))


def stage_rewrite_lines(path: Path, lines: frozenset[int], tag: str) -> StagedRewrite | None:
    """The landed file `path` without its data lines (Parquet: rows) numbered `lines` (1-based, as
    ingestion numbers them), staged beside it; None when it has none of them."""
    file_format = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if file_format is None or not lines:
        return None
    return _stage(path, file_format, tag, lambda number, text: number in lines, ("_row", lines))


def stage_rewrite_text(path: Path, drop, tag: str) -> StagedRewrite | None:
    """A text file (CSV with a header, else one record a line) without the lines `drop(number,
    text)` selects, staged beside it; None when it selects none."""
    file_format = "csv" if path.suffix.lower() == ".csv" else "jsonl"
    return _stage(path, file_format, tag, drop, ("_row", frozenset()))


def _stage(path: Path, file_format: str, tag: str, drop, parquet_rows: tuple[str, frozenset]) -> StagedRewrite | None:
    stat = path.stat()
    staged = path.with_name(f".{path.name}.{tag}.erasing")
    if file_format == "parquet":
        removed = _parquet_without(path, *parquet_rows, staged)
    else:
        data, removed = _text_lines(path, drop, header=file_format == "csv")
        if removed:
            with open(staged, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    if not removed:
        staged.unlink(missing_ok=True)
        return None
    os.chmod(staged, stat.st_mode & 0o777)
    return StagedRewrite(
        target=path,
        staged=staged,
        removed_lines=tuple(removed),
        original=fingerprint(path),
        rewritten=fingerprint(staged),
        modified_ns=stat.st_mtime_ns,
    )


def _parquet_without(path: Path, column: str, values: frozenset, staged: Path) -> list[int]:
    """Write the Parquet file without the rows whose `column` (user_id, or _row: the 1-based row
    number) is one of `values`; the row numbers removed."""
    with duckdb.connect() as con:
        con.execute("SET threads = 1")  # row_number() in the file's order
        source = con.read_parquet(str(path)).query("landed", "SELECT *, row_number() OVER () AS _row FROM landed")
        if column not in source.columns:
            return []
        con.register("landed_rows", source)
        removed = [
            r
            for (r,) in con.execute(
                f"SELECT _row FROM landed_rows WHERE CAST({column} AS VARCHAR) IN "
                "(SELECT CAST(unnest($values) AS VARCHAR)) ORDER BY 1",
                {"values": sorted(values)},
            ).fetchall()
        ]
        if removed:
            con.execute(
                "COPY (SELECT * EXCLUDE (_row) FROM landed_rows WHERE NOT list_contains($rows, _row) ORDER BY _row) "
                "TO '" + str(staged).replace("'", "''") + "' (FORMAT parquet)",
                {"rows": removed},
            )
        return removed


def put_in_place(rewrite: StagedRewrite) -> None:
    """Replace the landed file with its rewrite (one rename), with the original modification time."""
    os.utime(rewrite.staged, ns=(rewrite.modified_ns, rewrite.modified_ns))
    os.replace(rewrite.staged, rewrite.target)


def leftover_staged(folder: Path) -> list[Path]:
    """Rewrites a killed erasure staged and never put in place (they are made again)."""
    return sorted(folder.rglob(".*.erasing")) if folder.is_dir() else []
