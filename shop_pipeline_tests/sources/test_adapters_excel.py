"""Online Retail as an Excel workbook: every sheet, title rows, Excel row lineage, the overlap
of the two Online Retail II sheets, and bad workbooks (nothing half-imported)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

from shop_pipeline.sources.importer import ImportFailed, import_files
from shop_pipeline_tests.sources.test_adapters import (
    FIXTURES,
    _ingest_and_stage,
    _landed_bytes,
    _landing_rows,
    _rejects,
)

II_HEADER = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]
UCI_HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]


def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _online_retail_ii(path: Path) -> Path:
    """Two sheets like the public workbook, with its awkward cases."""
    t = dt.datetime
    return _workbook(
        path,
        {
            "Year 2009-2010": [
                ["Online Retail II, export"],  # row 1: a title row
                [],  # row 2: blank
                II_HEADER,  # row 3
                [
                    489434,
                    85048,
                    "15CM CHRISTMAS GLASS BALL",
                    12,
                    t(2009, 12, 1, 7, 45),
                    6.95,
                    13085.0,
                    "United Kingdom",
                ],
                ["C489449", 22087, "PAPER BUNTING", -12, t(2009, 12, 1, 10, 33), 2.95, 16321.0, "Australia"],
                [489436, 21755, "LOVE BUILDING BLOCK WORD", 3, t(2009, 12, 2, 9, 6), 5.45, None, "United Kingdom"],
                [],  # row 7: an empty row, skipped
                II_HEADER,  # row 8: the header again (two exports pasted together)
                [538171, 22423, "REGENCY CAKESTAND", 2, t(2010, 12, 9, 20, 1), 12.75, 17530.0, "United Kingdom"],
                [538172, 22424, "a date typed as text", 1, "13/45/2010 11:57", 1.0, 12583.0, "France"],
            ],
            "Year 2010-2011": [
                [*UCI_HEADER[:3], "InvoiceDate", "Quantity", *UCI_HEADER[5:]],  # other spelling, other column order
                [538171, 22423, "REGENCY CAKESTAND", t(2010, 12, 9, 20, 1), 2, 12.75, 17530.0, "United Kingdom"],
                [581587, 22138, "BAKING SET", t(2011, 12, 9, 12, 50), 3, 4.95, 12680, "France"],
            ],
            "Empty": [],
        },
    )


def test_workbook_every_sheet_title_rows_lineage_overlap_and_staging(tmp_path):
    source = _online_retail_ii(tmp_path / "online_retail_II.xlsx")
    landing = tmp_path / "home" / "landing"
    (report,) = import_files("online_retail", [source], landing)
    assert report.notes == {"cancellations": 1, "guest_rows": 1, "sheets": 2, "title_rows": 1, "overlap_rows": 1}
    assert (report.rows, report.rejects) == (6, 2)
    rows = _landing_rows(landing)
    p = "online_retail:online_retail_II:"
    # lineage: file, sheet and Excel row
    assert set(rows) == {p + "Year 2009-2010:" + str(n) for n in (4, 5, 6, 9, 10)} | {p + "Year 2010-2011:3"}
    first = rows[p + "Year 2009-2010:4"]
    assert (first["event_time"], first["user_id"], first["order_id"], first["product_id"]) == (
        "2009-12-01T07:45:00Z",
        "13085",
        "489434",
        "85048",
    )
    assert (first["price"], first["quantity"]) == ("6.95", "12")
    assert rows[p + "Year 2009-2010:5"]["quantity"] == "-12"
    assert rows[p + "Year 2009-2010:6"]["user_id"] == "guest:489436"
    assert rows[p + "Year 2009-2010:10"]["event_time"] == "13/45/2010 11:57"
    late = rows[p + "Year 2010-2011:3"]  # the second sheet's own column order and spelling
    assert (late["event_time"], late["quantity"], late["price"], late["user_id"]) == (
        "2011-12-09T12:50:00Z",
        "3",
        "4.95",
        "12680",
    )
    rejects = _rejects(landing / "import_rejects" / "online_retail_online_retail_II.csv")
    assert [(r["line"], r["reason"]) for r in rejects] == [
        ("Year 2009-2010:8", "repeated header line"),
        ("Year 2010-2011:2", "invoice 538171 is already in the earlier sheet 'Year 2009-2010' (the sheets overlap)"),
    ]
    assert rejects[1]["raw"].startswith("538171,22423,REGENCY CAKESTAND,2010-12-09 20:01:00,2,")

    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert clean == {p + "Year 2009-2010:" + str(n) for n in (4, 6, 9)} | {p + "Year 2010-2011:3"}
    assert quarantined == {
        p + "Year 2009-2010:5": "invalid_quantity",
        p + "Year 2009-2010:10": "unparseable_event_time",
    }


def test_workbook_and_its_csv_export_give_the_same_events(tmp_path):
    """The committed CSV fixture, as a one-sheet workbook: same rows, lineage by sheet row."""
    import csv

    with (FIXTURES / "online_retail_ii.csv").open(newline="") as handle:
        table = list(csv.reader(handle))
    typed = [table[0]] + [[_number(v) for v in row] for row in table[1:]]
    source = _workbook(tmp_path / "online_retail_ii.xlsx", {"Sheet1": typed})
    from_csv = _landing_rows(_imported(tmp_path, "csv", FIXTURES / "online_retail_ii.csv"))
    from_excel = _landing_rows(_imported(tmp_path, "xlsx", source))
    assert len(from_csv) == len(from_excel) == 6
    for line, row in from_csv.items():
        number = int(line.rsplit(":", 1)[1])
        other = from_excel[f"online_retail:online_retail_ii:Sheet1:{number + 1}"]
        assert {k: v for k, v in row.items() if k != "event_id"} == {k: v for k, v in other.items() if k != "event_id"}


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text or None


def _imported(tmp_path: Path, home: str, source: Path) -> Path:
    landing = tmp_path / home / "landing"
    import_files("online_retail", [source], landing)
    return landing


def test_workbook_import_is_deterministic(tmp_path):
    source = _online_retail_ii(tmp_path / "book.xlsx")
    a = _imported(tmp_path, "a", source)
    b = _imported(tmp_path, "b", source)
    assert _landed_bytes(a / "events") == _landed_bytes(b / "events")


@pytest.mark.parametrize(
    ("sheets", "message"),
    [
        (
            {"Sales": [["Report", 2011], II_HEADER]},
            "sheet 'Sales' row 1: not a online_retail file: missing columns Invoice/InvoiceNo",
        ),
        (
            {"Sales": [["Title"], [*II_HEADER[:6], "Country"]]},
            "sheet 'Sales' row 2: not a online_retail file: missing columns Customer ID/CustomerID",
        ),
        (
            {"Good": [II_HEADER, [1, 2, "x", 1, dt.datetime(2010, 1, 1), 1.0, 5, "UK"]], "Notes": [["just a note"]]},
            "sheet 'Notes': no header row (a row with the columns Invoice/InvoiceNo, StockCode, Quantity, "
            "InvoiceDate, Price/UnitPrice, Customer ID/CustomerID)",
        ),
        ({"Empty": [], "Blank": [[]]}, "the workbook has no sheet with rows"),
        (
            {"Sales": [[*II_HEADER[:2], None, *II_HEADER[2:6], "Country"]]},  # a blank header cell is no column
            "missing columns Customer ID/CustomerID (found: Invoice, StockCode, Description, Quantity, InvoiceDate, "
            "Price, Country)",
        ),
        (
            {
                "Sheet": [
                    II_HEADER,
                    [1, 2, "x", 1, "13/1/2011 10:00", 1, 5, "UK"],
                    [1, 3, "y", 1, "1/13/2011 10:00", 1, 5, "UK"],
                ]
            },
            (
                "column InvoiceDate mixes day/month/year (sheet 'Sheet' row 2: 13/1/2011 10:00) and month/day/year "
                "(sheet 'Sheet' row 3: 1/13/2011 10:00)"
            ),
        ),
    ],
)
def test_a_bad_workbook_is_an_error_naming_file_sheet_and_row(tmp_path, sheets, message):
    source = _workbook(tmp_path / "book.xlsx", sheets)
    landing = tmp_path / "landing"
    with pytest.raises(ImportFailed) as caught:
        import_files("online_retail", [FIXTURES / "online_retail_uci.csv", source], landing)
    assert str(caught.value).startswith(f"{source}: ") and message in str(caught.value)
    assert not landing.exists() or not [p for p in landing.rglob("*") if p.is_file()]  # the CSV neither


def test_not_a_workbook(tmp_path):
    fake = tmp_path / "export.xlsx"
    fake.write_text((FIXTURES / "online_retail_ii.csv").read_text())
    with pytest.raises(ImportFailed, match=r"export\.xlsx: not a readable Excel workbook"):
        import_files("online_retail", [fake], tmp_path / "landing")
    old = tmp_path / "export.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ImportFailed, match=r"export.xls: old binary Excel \(.xls\) is not supported"):
        import_files("online_retail", [old], tmp_path / "landing")


@pytest.mark.parametrize("fmt", ["rees46", "retailrocket", "cdnow"])
def test_a_workbook_with_another_format_flag_is_refused(tmp_path, fmt):
    source = _online_retail_ii(tmp_path / "book.xlsx")
    with pytest.raises(ImportFailed, match=f"book.xlsx: an Excel workbook .* is not a {fmt} file"):
        import_files(fmt, [source], tmp_path / "landing")


def test_cli_import_of_a_workbook(tmp_path, capsys, monkeypatch):
    from shop_pipeline.cli import main

    home = tmp_path / "shop"
    monkeypatch.setenv("SHOP_PIPELINE_HOME", str(home))  # --home sets it: restored after the test
    source = _online_retail_ii(tmp_path / "online_retail_II.xlsx")
    assert main(["import", "--format", "online_retail", str(source), "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert (
        "6 rows into 4 landing file(s), 2 unmappable line(s), cancellations: 1, guest_rows: 1, "
        "overlap_rows: 1, sheets: 2, title_rows: 1"
    ) in out
    assert main(["import", "--format", "rees46", str(source), "--home", str(home)]) == 1
    assert "an Excel workbook (or another zip file) is not a rees46 file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("", None),
        ("  Lunch bag \n", "Lunch bag"),
        (dt.datetime(2010, 12, 1, 8, 26, 5), "2010-12-01 08:26:05"),
        (dt.date(2010, 12, 1), "2010-12-01"),
        (dt.time(8, 26, 5), "08:26:05"),
        (13085.0, "13085"),  # a customer id Excel stored as a number
        (2.55, "2.55"),
        (-3, "-3"),
    ],
)
def test_cells_are_read_as_the_text_a_person_sees(value, text):
    from shop_pipeline.sources.excel import cell_text

    assert cell_text(value) == text


def test_a_rejected_row_keeps_its_cells_as_text_without_the_trailing_empty_ones(tmp_path):
    """The raw text of an overlapping row, as a person finds it in the sheet: every cell to the last
    filled one, empty cells kept in place."""
    t = dt.datetime
    header = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country", "Description"]
    source = _workbook(
        tmp_path / "book.xlsx",
        {
            "2010": [II_HEADER, [538171, 22423, "CAKESTAND", 2, t(2010, 12, 9, 20, 1), 12.75, 17530.0, "France"]],
            "2011": [[*header, "Note"], [538171, 22423, 2, t(2010, 12, 9, 20, 1), 12.75, None, None, "GIFT BOX", None]],
        },
    )
    landing = tmp_path / "landing"
    import_files("online_retail", [source], landing)
    rejects = _rejects(landing / "import_rejects" / "online_retail_book.csv")
    assert [(r["line"], r["raw"]) for r in rejects] == [
        ("2011:2", "538171,22423,2,2010-12-09 20:01:00,12.75,,,GIFT BOX")
    ]


def test_a_formula_cell_is_read_as_its_value_never_as_its_formula(tmp_path):
    """Formulas give their cached value (what Excel shows); a workbook never calculated (written by a
    program) has none, so the cell is empty rather than the text '=B2*2'."""
    from shop_pipeline.sources.excel import sheets

    source = _workbook(tmp_path / "book.xlsx", {"Sheet": [["a", "b"], [2, "=A2*2"]]})
    [(name, rows)] = [(name, list(rows)) for name, rows in sheets(source)]
    assert (name, rows) == ("Sheet", [(1, ["a", "b"]), (2, ["2", None])])
