"""UCI Online Retail and Online Retail II invoices, as CSV or as the Excel workbook (.xlsx).

Columns (either spelling): Invoice/InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
Price/UnitPrice, Customer ID/CustomerID, Country. InvoiceDate like `2009-12-01 07:45:00`
(Online Retail II), `12/1/2010 8:26` (month/day/year, Online Retail) or `01/12/2010 08:26`
(day/month/year, a UK export); the shop's local times carry no zone and are taken as UTC.
Slash dates are read month/day/year unless the file has a first number above 12 (then
day/month/year); a file with both kinds (`13/1/2011` and `1/13/2011`) is an ImportFailed
naming the file, the two lines and the column InvoiceDate. A file whose slash dates all have
both numbers <= 12 is read month/day/year (nothing in it can tell).

Excel (.xlsx / .xlsm, read with openpyxl as a stream, not via pandas): every sheet is read,
in workbook order (Online Retail II has 'Year 2009-2010' and 'Year 2010-2011'). In each sheet
the header is the first row with more than one filled cell; rows above it with at most one
filled cell (a title, a date, blank rows) are skipped and counted as 'title_rows'. A header
without the required columns is an ImportFailed naming the file, sheet and row. Empty rows
are skipped. Lineage: event_id = `online_retail:<file>:<sheet>:<row>` with the Excel row
number. An invoice that is already in an earlier sheet (the two Online Retail II sheets both
hold 2010-12-01..09) is not landed twice: its rows in the later sheet go to import_rejects
with the reason, counted as 'overlap_rows'. An empty sheet is skipped.

Every invoice line is one purchase: order_id = session_id = Invoice, product_id = StockCode,
quantity and price as is, no category or brand (Description and Country are not canonical
columns and are dropped).

Rows without a customer are kept, for sales, with user_id = 'guest:<Invoice>' (one guest
per invoice, so they never merge into one fake customer); customer models should leave
out user ids starting with 'guest:'. A Customer ID like `13085.0` becomes `13085`.

Cancellations (an Invoice starting with 'C', or a negative Quantity) are not dropped and do
not become another event type: they stay purchases with a negative quantity (a 'C' invoice
with a positive quantity gets its sign flipped), so staging quarantines every one of them as
invalid_quantity, with the invoice in order_id. They are counted in the import report as
'cancellations'. Adjustments with a negative price are quarantined as negative_price, and an
unparseable InvoiceDate is passed through raw (unparseable_event_time). A line that repeats
the header in the middle of the file (or sheet) goes to import_rejects ('repeated header line').
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import duckdb

from shop_pipeline import sql
from shop_pipeline.sources import excel
from shop_pipeline.sources.adapter import (
    CSV_READ,
    ISO_UTC,
    FormatAdapter,
    ImportFailed,
    csv_header,
    csv_params,
    quote_ident,
    raw_record_sql,
    repeated_header_sql,
    require_columns,
)

NAME = "online_retail"
REQUIRED = {
    "invoice": ("Invoice", "InvoiceNo"),
    "stock_code": ("StockCode",),
    "quantity": ("Quantity",),
    "invoice_date": ("InvoiceDate",),
    "price": ("Price", "UnitPrice"),
    "customer": ("Customer ID", "CustomerID"),
}
ISO_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
MONTH_FIRST = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")
DAY_FIRST = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y")


def convert(con: duckdb.DuckDBPyConnection, path: Path, stem: str) -> dict[str, int]:
    con.execute(sql.load("or_rows"))
    notes: dict[str, int] = {}
    if excel.is_workbook(path):
        notes = _load_workbook(con, path)
    else:
        _load_csv(con, path)
    formats = ISO_FORMATS + _slash_date_formats(con, path)
    parse = ", ".join("try_strptime(invoice_date, '" + f + "')" for f in formats)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE converted AS
        WITH first_sheet AS (  -- the sheet where each invoice appears first (Excel only)
            SELECT invoice, arg_min(sheet, line) AS sheet
            FROM or_rows WHERE sheet IS NOT NULL AND invoice IS NOT NULL AND NOT repeated_header
            GROUP BY invoice
        ),
        typed AS (
            SELECT r.*,
                   coalesce({parse}) AS ts,
                   regexp_replace(r.customer, '\\.0+$', '') AS customer_id,
                   (upper(r.invoice) LIKE 'C%' OR r.quantity LIKE '-%') AS cancellation,
                   CASE WHEN r.repeated_header THEN 'repeated header line'
                        WHEN f.sheet <> r.sheet
                        THEN 'invoice ' || r.invoice || ' is already in the earlier sheet ''' || f.sheet
                             || ''' (the sheets overlap)'
                   END AS reject_reason
            FROM or_rows AS r LEFT JOIN first_sheet AS f ON r.invoice = f.invoice
        )
        SELECT
            line,
            CASE WHEN reject_reason IS NULL THEN CAST(ts AS DATE) END AS day,
            CASE WHEN reject_reason IS NULL THEN $prefix || lineage ELSE raw END AS event_id,
            coalesce(strftime(ts, {ISO_UTC}), invoice_date) AS event_time,
            'purchase' AS event_type,
            coalesce(customer_id, 'guest:' || invoice) AS user_id,
            invoice AS session_id,
            stock_code AS product_id,
            CAST(NULL AS VARCHAR) AS category,
            CAST(NULL AS VARCHAR) AS brand,
            price,
            CASE WHEN cancellation AND quantity IS NOT NULL AND NOT quantity LIKE '-%'
                 THEN '-' || ltrim(quantity, '+') ELSE quantity END AS quantity,
            invoice AS order_id,
            reject_reason,
            lineage AS source_line,
            cancellation
        FROM typed
        ORDER BY line
        """,
        {"prefix": f"{NAME}:{stem}:"},
    )
    landed = con.execute(
        """SELECT count(*) FILTER (WHERE reject_reason IS NULL AND cancellation),
                  count(*) FILTER (WHERE reject_reason IS NULL AND user_id LIKE 'guest:%'),
                  count(*) FILTER (WHERE reject_reason LIKE '%(the sheets overlap)')
           FROM converted"""
    ).fetchall()[0]
    con.execute("ALTER TABLE converted DROP COLUMN cancellation")
    notes = {"cancellations": landed[0], "guest_rows": landed[1], **notes}
    if "sheets" in notes:
        notes["overlap_rows"] = landed[2]
    return notes


def _load_csv(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    found = csv_header(path)
    cols = require_columns(path, found, NAME, REQUIRED)
    c = {k: f"nullif(trim({quote_ident(v)}), '')" for k, v in cols.items()}
    con.execute(
        f"""
        INSERT INTO or_rows
        WITH src AS (SELECT row_number() OVER () AS line, * FROM {CSV_READ})
        SELECT line, NULL, CAST(line AS VARCHAR), 'line ' || (line + 1),
               {c["invoice"]}, {c["stock_code"]}, {c["quantity"]}, {c["invoice_date"]}, {c["price"]},
               {c["customer"]}, {repeated_header_sql(found)}, {raw_record_sql(found)}
        FROM src
        """,
        {**csv_params(path, found), "header": found},
    )


def _load_workbook(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, int]:
    """Stream every sheet into a temporary CSV of or_rows' columns, then load it in one go."""
    title_rows = sheets = 0
    with tempfile.TemporaryDirectory(prefix="shop-import-") as folder:
        staged = Path(folder) / "rows.csv"
        with staged.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            for sheet, rows in excel.sheets(path):
                written, titles = _write_sheet(writer, path, sheet, rows)
                sheets += written
                title_rows += titles
        con.execute(
            """
            INSERT INTO or_rows
            SELECT row_number() OVER () AS line, sheet, sheet || ':' || row,
                   'sheet ''' || sheet || ''' row ' || row,
                   nullif(invoice, ''), nullif(stock_code, ''), nullif(quantity, ''), nullif(invoice_date, ''),
                   nullif(price, ''), nullif(customer, ''), repeated_header = '1', raw
            FROM read_csv($path, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"',
                          columns = {'sheet': 'VARCHAR', 'row': 'BIGINT', 'invoice': 'VARCHAR',
                                     'stock_code': 'VARCHAR', 'quantity': 'VARCHAR', 'invoice_date': 'VARCHAR',
                                     'price': 'VARCHAR', 'customer': 'VARCHAR', 'repeated_header': 'VARCHAR',
                                     'raw': 'VARCHAR'})
            """,
            {"path": str(staged)},
        )
    if not sheets:
        raise ImportFailed(f"{path}: the workbook has no sheet with rows")
    return {"sheets": sheets, "title_rows": title_rows}


def _write_sheet(writer, path: Path, sheet: str, rows) -> tuple[int, int]:
    """Write one sheet's data rows; returns (1 if the sheet had a header else 0, title rows)."""
    positions: list[int] | None = None
    header: list[str] = []
    titles = 0
    for number, cells in rows:
        filled = [c for c in cells if c is not None]
        if positions is None:
            if len(filled) <= 1:
                titles += len(filled)
                continue
            header = [c or "" for c in cells]
            where = f"{path}: sheet {sheet!r} row {number}"
            cols = require_columns(where, [h for h in header if h], NAME, REQUIRED)  # type: ignore[arg-type]
            positions = [header.index(cols[k]) for k in REQUIRED]
            continue
        if not filled:
            continue
        values = [cells[i] if i < len(cells) else None for i in positions]
        repeated = all((v or "") == header[i] for v, i in zip(values, positions, strict=True))
        raw = ",".join(c or "" for c in cells).rstrip(",")
        writer.writerow([sheet, number, *values, "1" if repeated else "0", raw])
    if positions is None and titles:
        raise ImportFailed(
            f"{path}: sheet {sheet!r}: no header row (a row with the columns "
            + ", ".join("/".join(s) for s in REQUIRED.values())
            + ")"
        )
    return (0 if positions is None else 1), titles


def _slash_date_formats(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, ...]:
    """Month/day/year unless the file shows day/month/year; both in one file is an error."""
    day_first, month_first = con.execute(
        """
        WITH parts AS (
            SELECT line, location, invoice_date,
                   try_cast(regexp_extract(invoice_date, '^(\\d{1,2})/(\\d{1,2})/\\d{4}', 1) AS INTEGER) AS a,
                   try_cast(regexp_extract(invoice_date, '^(\\d{1,2})/(\\d{1,2})/\\d{4}', 2) AS INTEGER) AS b
            FROM or_rows
        )
        SELECT arg_min(location || ': ' || invoice_date, line) FILTER (WHERE a > 12 AND b <= 12),
               arg_min(location || ': ' || invoice_date, line) FILTER (WHERE b > 12 AND a <= 12)
        FROM parts
        """
    ).fetchall()[0]
    if day_first and month_first:
        raise ImportFailed(
            f"{path}: column InvoiceDate mixes day/month/year ({day_first}) and month/day/year "
            f"({month_first}): export the dates in one format"
        )
    return DAY_FIRST if day_first else MONTH_FIRST


ADAPTER = FormatAdapter(NAME, convert, reads_excel=True)
