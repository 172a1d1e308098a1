-- features.interactions: one row per (customer, product) pair with a view, cart or purchase
-- before the cut-off.
--
-- Parameters: $as_of (DATE, last day whose events may be used), $cutoff (TIMESTAMP, $as_of + 1
-- day 00:00 UTC), $half_life_days (DOUBLE > 0), $view_weight, $cart_weight, $purchase_weight
-- (DOUBLE >= 0: what one event of that type is worth before decay).
--
-- Leakage rule: only events with event_time < $cutoff that had landed by $as_of
-- (partition_date <= $as_of) are read.
--
-- weight = sum over the pair's events of type weight x 0.5 ^ (age in days / $half_life_days),
-- age measured from the event to $cutoff. Each term is rounded to DECIMAL(18, 12) and summed
-- as DECIMAL so the value does not depend on DuckDB's thread order (idempotent rebuilds).
-- remove_from_cart events are not read: the cart before it already showed the interest.
-- orders counts distinct orders holding the product (a purchase without an order_id is an
-- order of its own); purchases counts purchase events.
--
-- category: the catalog's (raw.products) when the product is listed there, else the category
-- of the product's latest event before the cut-off. in_catalog: listed in raw.products, or
-- raw.products is empty (a source without a catalog: every product seen is sellable).
WITH events AS (
    SELECT
        user_id, product_id, event_type, category, event_time,
        coalesce(order_id, event_id) AS order_key,
        CAST(
            CASE event_type WHEN 'view' THEN $view_weight WHEN 'cart' THEN $cart_weight ELSE $purchase_weight END
            * pow(0.5, (epoch_ms($cutoff) - epoch_ms(event_time)) / 86400000.0 / $half_life_days)
            AS DECIMAL(18, 12)
        ) AS decayed
    FROM staging.events
    WHERE event_time < $cutoff
      AND partition_date <= $as_of
      AND event_type IN ('view', 'cart', 'purchase')
),
event_category AS (
    SELECT product_id, arg_max(category, (event_time, category)) AS category
    FROM events
    GROUP BY product_id
),
catalog_size AS (
    SELECT count(*) AS products FROM raw.products
),
pairs AS (
    SELECT
        user_id, product_id,
        count(*) FILTER (WHERE event_type = 'view') AS views,
        count(*) FILTER (WHERE event_type = 'cart') AS carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        count(DISTINCT order_key) FILTER (WHERE event_type = 'purchase') AS orders,
        sum(decayed) AS weight,
        min(event_time) AS first_interaction,
        max(event_time) AS last_interaction,
        max(event_time) FILTER (WHERE event_type = 'purchase') AS last_purchase
    FROM events
    GROUP BY user_id, product_id
)
SELECT
    p.user_id AS customer_id,
    p.product_id,
    coalesce(c.category, e.category) AS category,
    CAST(p.views AS BIGINT) AS views,
    CAST(p.carts AS BIGINT) AS carts,
    CAST(p.purchases AS BIGINT) AS purchases,
    CAST(p.orders AS BIGINT) AS orders,
    CAST(p.weight AS DOUBLE) AS weight,
    p.first_interaction,
    p.last_interaction,
    p.last_purchase,
    (c.product_id IS NOT NULL OR s.products = 0) AS in_catalog,
    CAST($as_of AS DATE) AS as_of
FROM pairs AS p
CROSS JOIN catalog_size AS s
LEFT JOIN raw.products AS c ON c.product_id = p.product_id
LEFT JOIN event_category AS e ON e.product_id = p.product_id
ORDER BY customer_id, product_id
