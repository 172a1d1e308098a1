"""UCI Online Retail and Online Retail II invoices, as CSV (Excel is not supported: export
the sheet to CSV; openpyxl is not a dependency of this project).

Columns (either spelling): Invoice/InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
Price/UnitPrice, Customer ID/CustomerID, Country. InvoiceDate like `2009-12-01 07:45:00`
(Online Retail II) or `12/1/2010 8:26` (month/day/year, Online Retail); the shop's local
times carry no zone and are taken as UTC.

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
unparseable InvoiceDate is passed through raw (unparseable_event_time).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from shop_pipeline.sources.importer import CSV_READ, ISO_UTC, csv_header, csv_params, quote_ident, require_columns

NAME = "online_retail"
REQUIRED = {
    "invoice": ("Invoice", "InvoiceNo"),
    "stock_code": ("StockCode",),
    "quantity": ("Quantity",),
    "invoice_date": ("InvoiceDate",),
    "price": ("Price", "UnitPrice"),
    "customer": ("Customer ID", "CustomerID"),
}
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")


def convert(con: duckdb.DuckDBPyConnection, path: Path, stem: str) -> dict[str, int]:
    found = csv_header(path)
    cols = require_columns(path, found, NAME, REQUIRED)
    c = {k: f"nullif(trim({quote_ident(v)}), '')" for k, v in cols.items()}
    parse = ", ".join(f"try_strptime({c['invoice_date']}, '{f}')" for f in DATE_FORMATS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE converted AS
        WITH src AS (
            SELECT row_number() OVER () AS line, *
            FROM {CSV_READ}
        ),
        typed AS (
            SELECT line,
                   {c['invoice']} AS invoice,
                   {c['stock_code']} AS stock_code,
                   {c['quantity']} AS qty,
                   {c['price']} AS price,
                   regexp_replace({c['customer']}, '\\.0+$', '') AS customer,
                   {c['invoice_date']} AS raw_date,
                   coalesce({parse}) AS ts,
                   (upper({c['invoice']}) LIKE 'C%' OR {c['quantity']} LIKE '-%') AS cancellation
            FROM src
        )
        SELECT
            line,
            CAST(ts AS DATE) AS day,
            $prefix || line AS event_id,
            coalesce(strftime(ts, {ISO_UTC}), raw_date) AS event_time,
            'purchase' AS event_type,
            coalesce(customer, 'guest:' || invoice) AS user_id,
            invoice AS session_id,
            stock_code AS product_id,
            CAST(NULL AS VARCHAR) AS category,
            CAST(NULL AS VARCHAR) AS brand,
            price,
            CASE WHEN cancellation AND qty IS NOT NULL AND NOT qty LIKE '-%' THEN '-' || ltrim(qty, '+') ELSE qty END
                AS quantity,
            invoice AS order_id,
            CAST(NULL AS VARCHAR) AS reject_reason,
            cancellation
        FROM typed
        """,
        {**csv_params(path, found), "prefix": f"{NAME}:{stem}:"},
    )
    counts = con.execute(
        "SELECT count(*) FILTER (WHERE cancellation), count(*) FILTER (WHERE user_id LIKE 'guest:%') FROM converted"
    ).fetchall()[0]
    con.execute("ALTER TABLE converted DROP COLUMN cancellation")
    return {"cancellations": counts[0], "guest_rows": counts[1]}
