-- Every physical line of one chargeback-labels file as one VARCHAR, in file order (one column
-- and no quoting, so DuckDB rejects a line only for invalid UTF-8; see read_lines.sql).
-- The k-th row is numbered with its physical line by order_label_rows.sql.
CREATE OR REPLACE TEMP TABLE order_label_lines AS
SELECT row_number() OVER () AS k, line_text
FROM read_csv(
    $path,
    columns = {'line_text': 'VARCHAR'},
    header = false,
    auto_detect = false,
    delim = chr(1),
    quote = '',
    escape = '',
    store_rejects = true,
    rejects_table = 'order_label_reject_errors',
    rejects_scan = 'order_label_reject_scans'
)
