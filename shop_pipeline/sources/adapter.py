"""What every public-format adapter is (`Adapter`) and the helpers they share (no Dagster).

An adapter converts one source file into the DuckDB temp table `converted` (sources/importer.py
says what it holds) with set-based SQL; the importer writes the landing files from it. Each format
is one small module that defines its `ADAPTER`, listed once in sources/formats.py's registry:

    name          the --format of `shop-pipeline import`, and the landing files' prefix
    convert       convert(con, path, stem) -> counts for the report, or convert(con, path, stem,
                  mapping) for a format driven by a mapping (generic)
    prepare       optional: prepare(con, paths) -> the event files among `paths`, side files
                  (e.g. RetailRocket's item properties) loaded into temp tables, not landed
    reads_excel   whether an Excel workbook may be given (online_retail)
    load_mapping  optional: a mapping (YAML path or dict) checked and loaded; the format then
                  needs one (generic)
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

from shop_pipeline.sources.landing import read_first_line


class ImportFailed(Exception):
    """The import cannot proceed; the message names the file and what is wrong."""


class Adapter(Protocol):
    """A public format `shop-pipeline import` converts (module docstring)."""

    name: str
    reads_excel: bool

    @property
    def needs_mapping(self) -> bool: ...

    def prepare_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> list[Path]: ...

    def convert_file(self, con: duckdb.DuckDBPyConnection, path: Path, stem: str, mapping: Any) -> dict[str, int]: ...

    def checked_mapping(self, mapping: dict | Path | str) -> Any: ...


@dataclass(frozen=True)
class FormatAdapter:
    """An Adapter made of a format module's functions."""

    name: str
    convert: Callable[..., dict[str, int] | None]
    prepare: Callable[[duckdb.DuckDBPyConnection, list[Path]], list[Path]] | None = None
    reads_excel: bool = False
    load_mapping: Callable[[Any], dict] | None = None

    @property
    def needs_mapping(self) -> bool:
        return self.load_mapping is not None

    def prepare_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> list[Path]:
        return self.prepare(con, paths) if self.prepare else paths

    def convert_file(self, con: duckdb.DuckDBPyConnection, path: Path, stem: str, mapping: Any) -> dict[str, int]:
        converted = self.convert(con, path, stem, mapping) if self.needs_mapping else self.convert(con, path, stem)
        return converted or {}

    def checked_mapping(self, mapping: dict | Path | str) -> Any:
        """The mapping this format needs, loaded and checked."""
        if self.load_mapping is None:
            raise ImportFailed(f"the {self.name} format takes no mapping")
        return self.load_mapping(mapping)


def safe_stem(path: Path) -> str:
    stem = path.name.split(".")[0] if path.name.lower().endswith(".gz") else path.stem
    return re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_") or "file"


# A comma-separated file with a header, read with explicit columns (every one VARCHAR, in
# the header's order: $columns): a line with too many or too few fields is an error that
# DuckDB reports with its line number, never a silently shifted row.
CSV_READ = (
    "read_csv($path, columns = $columns, header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"')"
)


def csv_header(path: Path) -> list[str]:
    """The names in the first line of a comma-separated file."""
    first = read_first_line(path)
    if not first.strip():
        raise ImportFailed(f"{path}: empty file: no header line")
    try:
        text = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise ImportFailed(f"{path}: line 1: the header is not valid UTF-8") from exc
    names = [name.strip() for name in next(csv.reader([text]))]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ImportFailed(f"{path}: line 1: repeated columns {', '.join(repeated)}")
    return names


def csv_params(path: Path, names: list[str]) -> dict:
    return {"path": str(path), "columns": {name: "VARCHAR" for name in names}}


def require_columns(path: Path, found: list[str], fmt: str, required: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Map each logical column to the file's actual header name (case-insensitive, any of
    the accepted spellings), or raise ImportFailed listing every missing column."""
    by_lower = {name.strip().lower(): name for name in found}
    chosen: dict[str, str] = {}
    missing: list[str] = []
    for logical, spellings in required.items():
        actual = next((by_lower[s.lower()] for s in spellings if s.lower() in by_lower), None)
        if actual is None:
            missing.append("/".join(spellings))
        else:
            chosen[logical] = actual
    if missing:
        raise ImportFailed(
            f"{path}: not a {fmt} file: missing columns {', '.join(missing)} (found: {', '.join(found) or 'none'})"
        )
    return chosen


def repeated_header_sql(names: list[str]) -> str:
    """SQL that is true when a record repeats the header line (every field equals its column
    name, as happens when files are concatenated with their headers). Compares with the
    parameter $header, which must be `names` (so no header text is put into the SQL)."""
    return "list_value(" + ", ".join(f"coalesce(trim({quote_ident(n)}), '')" for n in names) + ") = $header"


def raw_record_sql(names: list[str]) -> str:
    """SQL giving a record's fields joined by commas: the raw text in import_rejects."""
    return "array_to_string(list_value(" + ", ".join(f"coalesce({quote_ident(n)}, '')" for n in names) + "), ',')"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


ISO_UTC = "'%Y-%m-%dT%H:%M:%SZ'"
