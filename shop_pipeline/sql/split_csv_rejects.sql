CREATE OR REPLACE TEMP TABLE landed_rejects AS
SELECT
    line,
    line_text AS raw_record,
    CASE
        WHEN line_text IS NULL OR trim(line_text) = '' THEN 'blank_line'
        ELSE 'malformed_line'
    END AS reason_code,
    CASE
        WHEN line_text IS NULL OR trim(line_text) = '' THEN 'blank line'
        WHEN fields IS NULL THEN 'unterminated quoted field'
        ELSE 'expected ' || $field_count || ' fields, found ' || len(fields)
    END AS reason
FROM landed_split
WHERE fields IS NULL OR len(fields) <> $field_count
UNION ALL
SELECT
    line - 1 AS line,
    csv_line AS raw_record,
    CASE WHEN error_type = 'INVALID ENCODING' THEN 'invalid_encoding' ELSE 'malformed_line' END,
    CASE
        WHEN error_type = 'INVALID ENCODING' THEN 'line is not valid UTF-8'
        ELSE lower(CAST(error_type AS VARCHAR)) || ': ' || error_message
    END
FROM (SELECT DISTINCT ON (line) * FROM landing_reject_errors ORDER BY line)
WHERE line > 1
