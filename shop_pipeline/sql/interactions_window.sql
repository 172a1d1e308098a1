-- What each customer did in a held-out window: one row per (customer, product) pair with a
-- view, cart or purchase in [$window_start, $cutoff) -- the test side of the temporal split.
--
-- Parameters: $window_start (TIMESTAMP, the split: cutoff of the last training day),
-- $cutoff (TIMESTAMP, cut-off of $as_of), $as_of (DATE: only events landed by then,
-- partition_date <= $as_of, are read, as for the features).
--
-- The caller picks the target event type from the counts (see ml/recommendation/data.py).
SELECT
    user_id AS customer_id,
    product_id,
    CAST(count(*) FILTER (WHERE event_type = 'view') AS BIGINT) AS views,
    CAST(count(*) FILTER (WHERE event_type = 'cart') AS BIGINT) AS carts,
    CAST(count(*) FILTER (WHERE event_type = 'purchase') AS BIGINT) AS purchases
FROM staging.events
WHERE event_time >= $window_start
  AND event_time < $cutoff
  AND partition_date <= $as_of
  AND event_type IN ('view', 'cart', 'purchase')
GROUP BY user_id, product_id
ORDER BY customer_id, product_id
