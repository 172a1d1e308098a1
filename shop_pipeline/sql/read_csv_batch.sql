-- The fast path for CSV: one multi-file read with DuckDB's parallel reader for a group of
-- files with the same header. No quoting, so a stray quote cannot swallow the lines after it:
-- every physical data line comes out as one record or one reject (blank lines excepted: the
-- reader skips them, and such a file takes the line-by-line path). Lines holding a quote are
-- re-parsed one by one afterwards (sources/native.py). Values stay as written (trimmed when
-- published). Records come out in file order; k numbers them across the whole batch.
-- $columns maps the header's names, in file order, to VARCHAR; $paths are glob-escaped; $ids are
-- the batch's ids of the files in $paths (file_index is the position in $paths).
INSERT INTO batch_csv
SELECT $k_offset + row_number() OVER () AS k, CAST($ids[CAST(file_index AS BIGINT) + 1] AS INTEGER) AS file_id,
       event_id, event_time, event_type, user_id, session_id, product_id, category, brand, price, quantity, order_id
FROM read_csv(
    $paths,
    columns = $columns,
    header = true,
    auto_detect = false,
    delim = ',',
    quote = '',
    escape = '',
    store_rejects = true,
    rejects_table = 'landing_reject_errors',
    rejects_scan = 'landing_reject_scans'
)
