-- or_rows: one row per source record of an Online Retail file (sources/online_retail.py), whatever
-- the file type, before any mapping.
CREATE OR REPLACE TEMP TABLE or_rows (
    line BIGINT, sheet VARCHAR, lineage VARCHAR, location VARCHAR,
    invoice VARCHAR, stock_code VARCHAR, quantity VARCHAR, invoice_date VARCHAR, price VARCHAR,
    customer VARCHAR, repeated_header BOOLEAN, raw VARCHAR
)
