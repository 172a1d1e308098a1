-- The fast path's rejects (re-parsed quoted lines already removed), worded like the
-- line-by-line path's.
INSERT INTO batch_reject_rows
SELECT
    file_id,
    line,
    csv_line AS raw_record,
    CASE WHEN error_type = 'INVALID ENCODING' THEN 'invalid_encoding' ELSE 'malformed_line' END AS reason_code,
    CASE
        WHEN error_type = 'INVALID ENCODING' THEN 'line is not valid UTF-8'
        ELSE 'expected ' || $field_count || ' fields, found ' || regexp_extract(error_message, 'Found: (\d+)', 1)
    END AS reason
FROM batch_csv_rejected
