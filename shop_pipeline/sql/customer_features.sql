-- features.customer_features: one row per customer seen before the cut-off.
--
-- Parameters: $as_of (DATE, last day whose events may be used), $cutoff (TIMESTAMP,
-- $as_of + 1 day 00:00 UTC), $no_event_days (DOUBLE, the sentinel for "never": the value of
-- days_since_last_view / days_since_last_cart for a customer without such an event).
--
-- Leakage rule: only events with event_time < $cutoff that had landed by $as_of
-- (partition_date <= $as_of) are read.
--
-- An order is a distinct order_id of the customer's purchase events (a purchase without an
-- order_id is an order of its own); its time is its first purchase event, its value
-- sum(price x quantity). Durations are in days (fractional), measured up to $cutoff.
-- Money is summed as DECIMAL so the result does not depend on DuckDB's thread order.
-- Anonymous buyers ('guest:<order>' user ids, written by adapters for rows without a
-- customer) are sales, not customers: they are left out.
WITH events AS (
    SELECT
        user_id, session_id, event_type, category, event_time,
        coalesce(order_id, event_id) AS order_key,
        CAST(price AS DECIMAL(18, 4)) * quantity AS amount
    FROM staging.events
    WHERE event_time < $cutoff
      AND partition_date <= $as_of
      AND NOT starts_with(user_id, 'guest:')
),
orders AS (
    SELECT user_id, order_key, min(event_time) AS order_time, sum(amount) AS amount
    FROM events
    WHERE event_type = 'purchase'
    GROUP BY user_id, order_key
),
order_stats AS (
    SELECT
        user_id,
        count(*) AS frequency,
        sum(amount) AS monetary,
        min(order_time) AS first_order,
        max(order_time) AS last_order,
        count(*) FILTER (WHERE order_time >= $cutoff - INTERVAL 30 DAY) AS orders_last_30d,
        count(*) FILTER (WHERE order_time >= $cutoff - INTERVAL 90 DAY) AS orders_last_90d,
        sum(amount) FILTER (WHERE order_time >= $cutoff - INTERVAL 30 DAY) AS spend_last_30d,
        sum(amount) FILTER (WHERE order_time >= $cutoff - INTERVAL 90 DAY) AS spend_last_90d
    FROM orders
    GROUP BY user_id
),
activity AS (
    SELECT
        user_id,
        min(event_time) AS first_seen,
        max(event_time) AS last_seen,
        count(DISTINCT session_id) AS sessions,
        count(*) FILTER (WHERE event_type = 'view') AS views,
        count(*) FILTER (WHERE event_type = 'cart') AS carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        count(DISTINCT category) AS category_diversity,
        max(event_time) FILTER (WHERE event_type = 'view') AS last_view,
        max(event_time) FILTER (WHERE event_type = 'cart') AS last_cart
    FROM events
    GROUP BY user_id
),
joined AS (
    SELECT
        a.*,
        coalesce(o.frequency, 0) AS frequency,
        coalesce(o.monetary, 0) AS monetary,
        o.first_order,
        o.last_order,
        coalesce(o.orders_last_30d, 0) AS orders_last_30d,
        coalesce(o.orders_last_90d, 0) AS orders_last_90d,
        coalesce(o.spend_last_30d, 0) AS spend_last_30d,
        coalesce(o.spend_last_90d, 0) AS spend_last_90d
    FROM activity AS a
    LEFT JOIN order_stats AS o ON o.user_id = a.user_id
)
SELECT
    user_id AS customer_id,
    CAST($as_of AS DATE) AS as_of,
    first_seen,
    last_seen,
    (epoch_ms($cutoff) - epoch_ms(first_seen)) / 86400000.0 AS tenure_days,
    -- days from the last purchase to the cut-off; a customer who never bought: from first_seen
    (epoch_ms($cutoff) - epoch_ms(coalesce(last_order, first_seen))) / 86400000.0 AS recency_days,
    CAST(frequency AS BIGINT) AS frequency,
    CAST(monetary AS DOUBLE) AS monetary,
    -- spend per order; 0 for a customer without orders
    CASE WHEN frequency > 0 THEN CAST(monetary / frequency AS DOUBLE) ELSE 0.0 END AS avg_order_value,
    CAST(sessions AS BIGINT) AS sessions,
    CAST(views AS BIGINT) AS views,
    CAST(carts AS BIGINT) AS carts,
    CAST(purchases AS BIGINT) AS purchases,
    -- ratios of event counts; 0 when the denominator is 0 (e.g. purchases-only data)
    CASE WHEN views > 0 THEN carts / views ELSE 0.0 END AS view_to_cart_rate,
    CASE WHEN carts > 0 THEN purchases / carts ELSE 0.0 END AS cart_to_purchase_rate,
    CAST(category_diversity AS BIGINT) AS category_diversity,
    -- $no_event_days when the customer never viewed / carted before the cut-off
    coalesce((epoch_ms($cutoff) - epoch_ms(last_view)) / 86400000.0, $no_event_days) AS days_since_last_view,
    coalesce((epoch_ms($cutoff) - epoch_ms(last_cart)) / 86400000.0, $no_event_days) AS days_since_last_cart,
    -- mean gap between consecutive orders; NULL with fewer than two orders
    CASE WHEN frequency >= 2
        THEN (epoch_ms(last_order) - epoch_ms(first_order)) / 86400000.0 / (frequency - 1)
    END AS mean_interpurchase_days,
    CAST(orders_last_30d AS BIGINT) AS orders_last_30d,
    CAST(orders_last_90d AS BIGINT) AS orders_last_90d,
    CAST(spend_last_30d AS DOUBLE) AS spend_last_30d,
    CAST(spend_last_90d AS DOUBLE) AS spend_last_90d
FROM joined
ORDER BY customer_id
