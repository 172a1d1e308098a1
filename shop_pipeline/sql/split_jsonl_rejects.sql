CREATE OR REPLACE TEMP TABLE landed_rejects AS
SELECT
    physical_line AS line,
    line_text AS raw_record,
    CASE WHEN line_text IS NULL OR trim(line_text) = '' THEN 'blank_line' ELSE 'malformed_line' END AS reason_code,
    CASE
        WHEN line_text IS NULL OR trim(line_text) = '' THEN 'blank line'
        WHEN NOT json_valid(line_text) THEN 'not valid JSON'
        ELSE 'JSON value is not an object'
    END AS reason
FROM landed_numbered
WHERE line_text IS NULL OR NOT json_valid(line_text) OR json_type(line_text) <> 'OBJECT'
UNION ALL
SELECT
    line,
    csv_line,
    CASE WHEN error_type = 'INVALID ENCODING' THEN 'invalid_encoding' ELSE 'malformed_line' END,
    CASE
        WHEN error_type = 'INVALID ENCODING' THEN 'line is not valid UTF-8'
        ELSE lower(CAST(error_type AS VARCHAR)) || ': ' || error_message
    END
FROM (SELECT DISTINCT ON (line) * FROM landing_reject_errors ORDER BY line)
