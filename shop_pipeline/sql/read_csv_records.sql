-- The fast path for CSV: DuckDB's own parallel reader, every column as text, in file
-- order, with structural errors kept in the reject table with their physical line.
-- $columns maps the header's (checked, normalised) names, in file order, to VARCHAR.
CREATE OR REPLACE TEMP TABLE landed_csv AS
SELECT row_number() OVER () AS k, *
FROM read_csv(
    $path,
    columns = $columns,
    header = true,
    auto_detect = false,
    delim = ',',
    quote = '"',
    escape = '"',
    store_rejects = true,
    rejects_table = 'landing_reject_errors',
    rejects_scan = 'landing_reject_scans'
)
