-- The fast path's rejects, worded like the line-by-line path's.
CREATE OR REPLACE TEMP TABLE landed_rejects AS
SELECT
    line - 1 AS line,
    csv_line AS raw_record,
    CASE WHEN error_type = 'INVALID ENCODING' THEN 'invalid_encoding' ELSE 'malformed_line' END AS reason_code,
    CASE
        WHEN error_type = 'INVALID ENCODING' THEN 'line is not valid UTF-8'
        ELSE 'expected ' || $field_count || ' fields, found ' || regexp_extract(error_message, 'Found: (\d+)', 1)
    END AS reason
FROM (SELECT DISTINCT ON (line) * FROM landing_reject_errors ORDER BY line)
