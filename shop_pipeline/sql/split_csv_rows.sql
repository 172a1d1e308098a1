-- Structurally sound CSV lines become raw rows (every value still text); the rest are
-- rejects with a readable reason. $field_count is the header's number of columns.
CREATE OR REPLACE TEMP TABLE landed_rows AS
SELECT
    line,
    nullif(trim(fields[$pos_event_id]), '') AS event_id,
    nullif(trim(fields[$pos_event_time]), '') AS event_time,
    nullif(trim(fields[$pos_event_type]), '') AS event_type,
    nullif(trim(fields[$pos_user_id]), '') AS user_id,
    nullif(trim(fields[$pos_session_id]), '') AS session_id,
    nullif(trim(fields[$pos_product_id]), '') AS product_id,
    nullif(trim(fields[$pos_category]), '') AS category,
    nullif(trim(fields[$pos_brand]), '') AS brand,
    nullif(trim(fields[$pos_price]), '') AS price,
    nullif(trim(fields[$pos_quantity]), '') AS quantity,
    nullif(trim(fields[$pos_order_id]), '') AS order_id
FROM landed_split
WHERE fields IS NOT NULL AND len(fields) = $field_count
