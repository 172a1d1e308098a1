-- features.customer_labels: what each customer did in the label window after the cut-off.
--
-- Parameters: $as_of (DATE), $cutoff (TIMESTAMP, $as_of + 1 day 00:00 UTC), $horizon_days
-- (INTEGER), $window_end (TIMESTAMP, $cutoff + $horizon_days days).
--
-- The customers are exactly those of customer_features at the same $as_of (an event before
-- the cut-off that had landed by $as_of). The label window is [$cutoff, $window_end): it
-- starts strictly after every event a feature may use. Purchases in the window count
-- whatever partition they landed in, up to $known_by: a model trained for a scoring cut-off
-- learns only from purchases that had landed by that cut-off (later arrivals are the future).
-- A customer without a purchase in the window has purchased = false, orders = 0, spend = 0.
WITH customers AS (
    SELECT DISTINCT user_id
    FROM staging.events
    WHERE event_time < $cutoff
      AND partition_date <= $as_of
      AND NOT starts_with(user_id, 'guest:')   -- anonymous buyers are not customers
),
window_orders AS (
    SELECT
        user_id,
        coalesce(order_id, event_id) AS order_key,
        sum(CAST(price AS DECIMAL(18, 4)) * quantity) AS amount
    FROM staging.events
    WHERE event_type = 'purchase'
      AND event_time >= $cutoff
      AND event_time < $window_end
      AND partition_date <= $known_by
    GROUP BY user_id, order_key
)
SELECT
    c.user_id AS customer_id,
    CAST($as_of AS DATE) AS as_of,
    CAST($horizon_days AS INTEGER) AS horizon_days,
    count(o.order_key) > 0 AS purchased,
    CAST(count(o.order_key) AS BIGINT) AS orders,
    CAST(coalesce(sum(o.amount), 0) AS DOUBLE) AS spend
FROM customers AS c
LEFT JOIN window_orders AS o ON o.user_id = c.user_id
GROUP BY c.user_id
ORDER BY customer_id
