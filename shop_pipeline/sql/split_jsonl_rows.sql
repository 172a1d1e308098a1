-- JSON Lines: one object per line; keys are matched by canonical name, values kept as text.
CREATE OR REPLACE TEMP TABLE landed_rows AS
SELECT
    physical_line AS line,
    nullif(trim(json_extract_string(line_text, '$.event_id')), '') AS event_id,
    nullif(trim(json_extract_string(line_text, '$.event_time')), '') AS event_time,
    nullif(trim(json_extract_string(line_text, '$.event_type')), '') AS event_type,
    nullif(trim(json_extract_string(line_text, '$.user_id')), '') AS user_id,
    nullif(trim(json_extract_string(line_text, '$.session_id')), '') AS session_id,
    nullif(trim(json_extract_string(line_text, '$.product_id')), '') AS product_id,
    nullif(trim(json_extract_string(line_text, '$.category')), '') AS category,
    nullif(trim(json_extract_string(line_text, '$.brand')), '') AS brand,
    nullif(trim(json_extract_string(line_text, '$.price')), '') AS price,
    nullif(trim(json_extract_string(line_text, '$.quantity')), '') AS quantity,
    nullif(trim(json_extract_string(line_text, '$.order_id')), '') AS order_id
FROM landed_numbered
WHERE line_text IS NOT NULL AND json_valid(line_text) AND json_type(line_text) = 'OBJECT'
