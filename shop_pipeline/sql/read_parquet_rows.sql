-- Parquet rows keep their 1-based row number as the line; values become text so that the
-- same typed validation applies to every format.
CREATE OR REPLACE TEMP TABLE landed_rows AS
SELECT
    file_row_number + 1 AS line,
    nullif(trim(CAST(event_id AS VARCHAR)), '') AS event_id,
    nullif(trim(CAST(event_time AS VARCHAR)), '') AS event_time,
    nullif(trim(CAST(event_type AS VARCHAR)), '') AS event_type,
    nullif(trim(CAST(user_id AS VARCHAR)), '') AS user_id,
    nullif(trim(CAST(session_id AS VARCHAR)), '') AS session_id,
    nullif(trim(CAST(product_id AS VARCHAR)), '') AS product_id,
    nullif(trim(CAST(category AS VARCHAR)), '') AS category,
    nullif(trim(CAST(brand AS VARCHAR)), '') AS brand,
    nullif(trim(CAST(price AS VARCHAR)), '') AS price,
    nullif(trim(CAST(quantity AS VARCHAR)), '') AS quantity,
    nullif(trim(CAST(order_id AS VARCHAR)), '') AS order_id
FROM read_parquet($path, file_row_number = true)
