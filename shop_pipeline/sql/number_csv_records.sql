-- Give the fast path's records their data line: the k-th record is the k-th data line the
-- reader did not reject (valid only when records + rejects = data lines, checked before).
CREATE OR REPLACE TEMP TABLE landed_rows AS
WITH rejected AS (
    SELECT DISTINCT line - 1 AS line FROM landing_reject_errors
),
kept AS (
    SELECT r.line, row_number() OVER (ORDER BY r.line) AS k
    FROM range(1, $data_lines + 1) AS r(line)
    ANTI JOIN rejected USING (line)
)
SELECT
    kept.line,
    nullif(trim(c.event_id), '') AS event_id,
    nullif(trim(c.event_time), '') AS event_time,
    nullif(trim(c.event_type), '') AS event_type,
    nullif(trim(c.user_id), '') AS user_id,
    nullif(trim(c.session_id), '') AS session_id,
    nullif(trim(c.product_id), '') AS product_id,
    nullif(trim(c.category), '') AS category,
    nullif(trim(c.brand), '') AS brand,
    nullif(trim(c.price), '') AS price,
    nullif(trim(c.quantity), '') AS quantity,
    nullif(trim(c.order_id), '') AS order_id
FROM landed_csv AS c
JOIN kept USING (k)
