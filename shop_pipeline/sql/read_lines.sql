-- Every physical line of a text file as one VARCHAR, in file order.
-- One column and no quoting, so DuckDB only rejects a line for invalid UTF-8 or an
-- oversized line, and those rejects keep their physical line number.
-- new_line is left to DuckDB: forcing '\n' makes any '\r' (CRLF files) an invalid parser state.
-- A file that mixes LF and CRLF endings still fails as a whole (loudly, never silently).
CREATE OR REPLACE TEMP TABLE landed_lines AS
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
    rejects_table = 'landing_reject_errors',
    rejects_scan = 'landing_reject_scans'
)
