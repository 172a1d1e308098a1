"""Reading Excel workbooks (.xlsx / .xlsm) row by row, every sheet in workbook order.

openpyxl's read-only mode streams the sheet XML, so a workbook of a million rows is never held
in memory (pandas.read_excel would build the whole frame). Formulas give their cached value.
Each row comes with its Excel row number (1-based, as Excel shows it; empty rows are counted),
so lineage can point at `file:sheet:row`. Cell values are rendered as text:

    None / ''           -> None
    datetime            -> 'YYYY-MM-DD HH:MM:SS'   (Excel times carry no zone)
    date / time         -> 'YYYY-MM-DD' / 'HH:MM:SS'
    float with no fraction -> its integer text ('13085.0' -> '13085'); other floats repr-exact
    anything else       -> str(value), stripped

A file that is not a readable workbook (an old binary .xls, a renamed CSV, a broken zip) is
an ImportFailed naming the file.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path

from shop_pipeline.sources.adapter import ImportFailed

SUFFIXES = (".xlsx", ".xlsm")
ZIP_MAGIC = b"PK\x03\x04"


def is_workbook(path: Path) -> bool:
    """True for an Excel file (by its suffix, .xls included so that it is refused clearly, or by
    its zip signature whatever its name)."""
    if path.suffix.lower() in (*SUFFIXES, ".xls"):
        return True
    with path.open("rb") as handle:
        return handle.read(4) == ZIP_MAGIC


def cell_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def sheets(path: Path) -> Iterator[tuple[str, Iterator[tuple[int, list[str | None]]]]]:
    """(sheet name, rows) for every worksheet; rows are (Excel row number, cell texts).

    Consume each sheet's rows before asking for the next sheet (the workbook is streamed)."""
    from openpyxl import load_workbook  # imported here: only Excel imports need it

    if path.suffix.lower() == ".xls":
        raise ImportFailed(f"{path}: old binary Excel (.xls) is not supported: save it as .xlsx or CSV")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFailed(f"{path}: not a readable Excel workbook (.xlsx): {exc}") from exc
    try:
        for sheet in workbook.worksheets:
            yield sheet.title, _rows(sheet)
    finally:
        workbook.close()


def _rows(sheet) -> Iterator[tuple[int, list[str | None]]]:
    # min_row / min_col 1: a sheet whose used range starts lower still numbers rows as Excel does
    for number, values in enumerate(sheet.iter_rows(min_row=1, min_col=1, values_only=True), start=1):
        yield number, [cell_text(v) for v in values]
