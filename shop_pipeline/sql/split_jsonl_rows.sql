-- JSON Lines: one object per line; keys match the canonical names case-insensitively (like a
-- CSV header's names), values kept as text. A key is looked up by its spelling in that line
-- (every key is a canonical name in some case: _check_jsonl_keys refuses any other key).
-- A line that repeats a key (in any case) is a duplicate_key reject (split_jsonl_rejects.sql).
CREATE OR REPLACE TEMP TABLE landed_rows AS
WITH objects AS (
    SELECT physical_line, line_text, keys, list_transform(keys, lambda k: lower(k)) AS lower_keys
    FROM (
        SELECT physical_line, line_text, json_keys(line_text) AS keys
        FROM landed_numbered
        WHERE line_text IS NOT NULL AND json_valid(line_text) AND json_type(line_text) = 'OBJECT'
    )
)
SELECT
    physical_line AS line,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'event_id')] || '"')), '') AS event_id,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'event_time')] || '"')), '') AS event_time,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'event_type')] || '"')), '') AS event_type,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'user_id')] || '"')), '') AS user_id,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'session_id')] || '"')), '') AS session_id,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'product_id')] || '"')), '') AS product_id,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'category')] || '"')), '') AS category,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'brand')] || '"')), '') AS brand,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'price')] || '"')), '') AS price,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'quantity')] || '"')), '') AS quantity,
    nullif(trim(json_extract_string(line_text, '$."' || keys[list_position(lower_keys, 'order_id')] || '"')), '') AS order_id
FROM objects
WHERE len(list_distinct(lower_keys)) = len(lower_keys)
