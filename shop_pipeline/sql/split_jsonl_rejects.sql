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
-- a key given twice (in any case: keys match case-insensitively) has no one value
SELECT
    physical_line,
    line_text,
    'duplicate_key',
    'repeated key ' || array_to_string(
        list_sort(list_filter(list_distinct(lower_keys), lambda x: len(list_filter(lower_keys, lambda y: y = x)) > 1)),
        ', ')
FROM (
    SELECT physical_line, line_text, list_transform(json_keys(line_text), lambda k: lower(k)) AS lower_keys
    FROM landed_numbered
    WHERE line_text IS NOT NULL AND json_valid(line_text) AND json_type(line_text) = 'OBJECT'
)
WHERE len(list_distinct(lower_keys)) <> len(lower_keys)
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
