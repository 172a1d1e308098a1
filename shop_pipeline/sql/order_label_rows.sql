-- Classify the data lines of one labels file (read_lines.sql + number_lines.sql: landed_numbered,
-- landing_reject_errors) into
-- order_label_staged: a label row (reason_code NULL) or a reject with a readable reason.
--
-- Parameters: $source_file (VARCHAR, recorded with every row), $field_count (columns of the
-- header), $pos_order_id,
-- $pos_is_fraud, $pos_reported_on (1-based positions of those columns in the header).
--
-- Fields are split on commas and trimmed of blanks and surrounding double quotes; a quoted
-- field holding a comma therefore changes the field count and is rejected as malformed.
-- is_fraud: 1 / 0 / true / false (any case). reported_on: an ISO date YYYY-MM-DD.
INSERT INTO order_label_staged BY NAME
WITH numbered AS (
    SELECT physical_line AS line, line_text FROM landed_numbered WHERE physical_line > 1
),
parsed AS (
    SELECT
        line,
        line_text,
        CASE WHEN line_text IS NOT NULL AND trim(line_text) <> ''
            THEN list_transform(string_split(line_text, ','), lambda f: nullif(trim(trim(f), '"'), ''))
        END AS fields
    FROM numbered
),
valued AS (
    SELECT
        line, line_text, fields,
        fields[$pos_order_id] AS order_id,
        lower(fields[$pos_is_fraud]) AS is_fraud_text,
        fields[$pos_reported_on] AS reported_on_text
    FROM parsed
),
classified AS (
    SELECT
        *,
        CASE
            WHEN fields IS NULL THEN 'blank_line'
            WHEN len(fields) <> $field_count THEN 'malformed_line'
            WHEN order_id IS NULL THEN 'missing_order_id'
            WHEN is_fraud_text IS NULL THEN 'missing_is_fraud'
            WHEN is_fraud_text NOT IN ('0', '1', 'true', 'false') THEN 'invalid_is_fraud'
            WHEN reported_on_text IS NULL THEN 'missing_reported_on'
            WHEN NOT regexp_full_match(reported_on_text, '[0-9]{4}-[0-9]{2}-[0-9]{2}')
                OR try_cast(reported_on_text AS DATE) IS NULL THEN 'unparseable_reported_on'
        END AS reason_code
    FROM valued
)
SELECT
    $source_file AS source_file,
    line,
    line_text AS raw_record,
    CASE WHEN reason_code IS NULL THEN order_id END AS order_id,
    CASE WHEN reason_code IS NULL THEN is_fraud_text IN ('1', 'true') END AS is_fraud,
    CASE WHEN reason_code IS NULL THEN CAST(reported_on_text AS DATE) END AS reported_on,
    reason_code,
    CASE reason_code
        WHEN 'blank_line' THEN 'blank line'
        WHEN 'malformed_line' THEN 'expected ' || $field_count || ' fields, found ' || len(fields)
        WHEN 'missing_order_id' THEN 'order_id is empty'
        WHEN 'missing_is_fraud' THEN 'is_fraud is empty'
        WHEN 'invalid_is_fraud' THEN 'is_fraud ''' || is_fraud_text || ''' is not one of 1, 0, true, false'
        WHEN 'missing_reported_on' THEN 'reported_on is empty'
        WHEN 'unparseable_reported_on' THEN 'reported_on ''' || reported_on_text || ''' is not a date YYYY-MM-DD'
    END AS reason
FROM classified
UNION ALL
SELECT
    $source_file AS source_file,
    line,
    csv_line AS raw_record,
    NULL AS order_id,
    NULL AS is_fraud,
    NULL AS reported_on,
    'invalid_encoding' AS reason_code,
    'line is not valid UTF-8' AS reason
FROM (SELECT DISTINCT ON (line) line, csv_line FROM landing_reject_errors ORDER BY line)
WHERE line > 1
