-- features.order_features: one row per order placed before the cut-off, with what was known
-- at the moment of the order.
--
-- Parameters: $as_of (DATE, last day whose events may be used), $cutoff (TIMESTAMP, $as_of +
-- 1 day 00:00 UTC), $expensive_ratio (DOUBLE: a line is "expensive" when its unit price is at
-- least this multiple of its category's reference price), $since (TIMESTAMP or NULL: only the
-- orders placed at or after it, computed from the history of their customers alone; NULL: all).
--
-- Leakage rule: only events with event_time < $cutoff that had landed by $as_of
-- (partition_date <= $as_of) are read, and every feature of an order looks only at events up
-- to the order's own time (shop-wide references: at days before the order's day). Adding
-- events after an order never changes that order's row.
--
-- An order is a distinct order_id of a customer's purchase events (a purchase without an
-- order_id is an order of its own, keyed by its event_id); its time is its first purchase
-- event, its session the smallest session_id of its lines, its amount sum(price x quantity).
-- "Previous orders" are the customer's orders earlier in (order_time, order_id) order.
-- Money is summed as DECIMAL so that the result does not depend on DuckDB's thread order.
--
-- NULL means "no history to compare with" (see features/order_features.py for each column):
-- a first order has no previous amounts, a category on its first day has no reference price,
-- the shop's first day has no hour profile, a session without a cart has no cart time.
WITH events AS (
    SELECT
        user_id, session_id, event_type, product_id, category, event_time, price, quantity,
        coalesce(order_id, event_id) AS order_key
    FROM staging.events
    WHERE event_time < $cutoff
      AND partition_date <= $as_of
),
-- the customers with an order at or after $since: the only histories an order from then on reads
customer_events AS (
    SELECT * FROM events
    WHERE $since IS NULL
       OR user_id IN (SELECT user_id FROM events WHERE event_type = 'purchase' AND event_time >= $since)
),
-- the category's mean unit price over all its events of the days before (a point-in-time
-- reference for "expensive"); grouped by day first so the window runs over few rows
category_days AS (
    SELECT category, CAST(event_time AS DATE) AS day, sum(CAST(price AS DECIMAL(18, 4))) AS price_sum, count(*) AS n
    FROM events
    WHERE category IS NOT NULL
    GROUP BY category, day
),
category_reference AS (
    SELECT
        category, day,
        CAST(sum(price_sum) OVER earlier AS DOUBLE) / sum(n) OVER earlier AS reference_price
    FROM category_days
    WINDOW earlier AS (PARTITION BY category ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
purchase_lines AS (
    SELECT
        e.user_id, e.order_key, e.session_id, e.product_id, e.category, e.event_time, e.price, e.quantity,
        CAST(e.price AS DECIMAL(18, 4)) * e.quantity AS line_amount,
        r.reference_price
    FROM customer_events AS e
    LEFT JOIN category_reference AS r ON r.category = e.category AND r.day = CAST(e.event_time AS DATE)
    WHERE e.event_type = 'purchase'
),
orders AS (
    SELECT
        user_id, order_key,
        min(event_time) AS order_time,
        min(session_id) AS session_id,
        sum(line_amount) AS amount,
        count(*) AS items,
        sum(quantity) AS units,
        count(DISTINCT product_id) AS distinct_products,
        count(DISTINCT category) AS distinct_categories,
        max(price) AS max_item_price,
        coalesce(sum(line_amount) FILTER (WHERE price >= $expensive_ratio * reference_price), 0) AS expensive_amount,
        max(price / nullif(reference_price, 0)) AS max_price_vs_category
    FROM purchase_lines
    GROUP BY user_id, order_key
),
order_history AS (
    SELECT
        o.*,
        count(*) OVER previous AS prev_orders,
        CAST(avg(amount) OVER previous AS DOUBLE) AS prev_mean_amount,
        stddev_samp(CAST(amount AS DOUBLE)) OVER previous AS prev_std_amount,
        max(order_time) OVER previous AS prev_order_time,
        count(*) OVER last_hour - 1 AS orders_last_1h,
        count(*) OVER last_day - 1 AS orders_last_24h,
        CAST(sum(amount) OVER last_day - amount AS DOUBLE) AS amount_last_24h
    FROM orders AS o
    WINDOW
        previous AS (PARTITION BY user_id ORDER BY order_time, order_key ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
        last_hour AS (PARTITION BY user_id ORDER BY order_time RANGE BETWEEN INTERVAL 1 HOUR PRECEDING AND CURRENT ROW),
        last_day AS (PARTITION BY user_id ORDER BY order_time RANGE BETWEEN INTERVAL 1 DAY PRECEDING AND CURRENT ROW)
),
customer_first_seen AS (
    SELECT user_id, min(event_time) AS first_seen FROM customer_events GROUP BY user_id
),
session_starts AS (
    SELECT user_id, session_id, min(event_time) AS session_start
    FROM customer_events
    WHERE session_id IS NOT NULL
    GROUP BY user_id, session_id
),
-- the moment the order's shopping began: its session's first event (the order time without a session)
order_starts AS (
    SELECT o.user_id, o.order_key, coalesce(s.session_start, o.order_time) AS started_at
    FROM orders AS o
    LEFT JOIN session_starts AS s ON s.user_id = o.user_id AND s.session_id = o.session_id
),
-- views and carts of the order's session since the session's previous order (if any)
session_orders AS (
    SELECT
        user_id, order_key, session_id, order_time,
        lag(order_time) OVER (PARTITION BY user_id, session_id ORDER BY order_time, order_key) AS prev_session_order_time
    FROM orders
    WHERE session_id IS NOT NULL
),
session_activity AS (
    SELECT
        so.user_id, so.order_key,
        count(*) FILTER (WHERE e.event_type = 'view') AS session_views,
        count(*) FILTER (WHERE e.event_type = 'cart') AS session_carts,
        min(e.event_time) FILTER (WHERE e.event_type = 'cart') AS first_cart_time
    FROM session_orders AS so
    JOIN customer_events AS e
        ON e.user_id = so.user_id AND e.session_id = so.session_id
        AND e.event_type <> 'purchase'
        AND e.event_time <= so.order_time
        AND (so.prev_session_order_time IS NULL OR e.event_time > so.prev_session_order_time)
    GROUP BY so.user_id, so.order_key
),
-- categories: the customer's first touch of each category, against the order's start
category_first_touch AS (
    SELECT user_id, category, min(event_time) AS first_touch
    FROM customer_events
    WHERE category IS NOT NULL
    GROUP BY user_id, category
),
categories_before AS (
    SELECT s.user_id, s.order_key, count(*) AS categories_before
    FROM order_starts AS s
    JOIN category_first_touch AS t ON t.user_id = s.user_id AND t.first_touch < s.started_at
    GROUP BY s.user_id, s.order_key
),
order_categories AS (
    SELECT DISTINCT user_id, order_key, category FROM purchase_lines WHERE category IS NOT NULL
),
new_categories AS (
    SELECT
        c.user_id, c.order_key,
        count(*) AS order_categories,
        count(*) FILTER (WHERE t.first_touch >= s.started_at) AS new_categories
    FROM order_categories AS c
    JOIN order_starts AS s ON s.user_id = c.user_id AND s.order_key = c.order_key
    JOIN category_first_touch AS t ON t.user_id = c.user_id AND t.category = c.category
    GROUP BY c.user_id, c.order_key
),
-- the customer's events before the order's start (running count, ties counted together)
customer_event_counts AS (
    SELECT user_id, event_time, count(*) OVER (PARTITION BY user_id ORDER BY event_time RANGE UNBOUNDED PRECEDING) AS events_so_far
    FROM customer_events
),
events_before AS (
    SELECT s.user_id, s.order_key, c.events_so_far AS customer_events_before
    FROM order_starts AS s
    ASOF JOIN customer_event_counts AS c ON c.user_id = s.user_id AND s.started_at > c.event_time
),
-- the shop's order profile by UTC hour of day, over the days before the order's day (every
-- customer's orders: `orders` holds only those of the customers in scope)
shop_order_times AS (
    SELECT min(event_time) AS order_time
    FROM events
    WHERE event_type = 'purchase'
    GROUP BY user_id, order_key
),
hour_days AS (
    SELECT CAST(order_time AS DATE) AS day, hour(order_time) AS hour, count(*) AS n
    FROM shop_order_times
    GROUP BY day, hour
),
day_totals AS (
    SELECT day, sum(n) AS n FROM hour_days GROUP BY day
),
hour_profile AS (
    SELECT
        h.day, h.hour,
        coalesce(sum(h.n) OVER earlier_same_hour, 0) AS earlier_hour_orders,
        d.earlier_orders
    FROM hour_days AS h
    JOIN (
        SELECT day, sum(n) OVER (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_orders
        FROM day_totals
    ) AS d ON d.day = h.day
    WINDOW earlier_same_hour AS (PARTITION BY h.hour ORDER BY h.day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
SELECT
    o.order_key AS order_id,
    o.user_id AS customer_id,
    o.order_time,
    CAST(o.order_time AS DATE) AS order_day,
    CAST($as_of AS DATE) AS as_of,
    o.session_id,
    -- the basket
    CAST(o.amount AS DOUBLE) AS amount,
    CAST(o.items AS BIGINT) AS items,
    CAST(o.units AS BIGINT) AS units,
    CAST(o.distinct_products AS BIGINT) AS distinct_products,
    CAST(o.distinct_categories AS BIGINT) AS distinct_categories,
    o.max_item_price,
    CASE WHEN o.units > 0 THEN CAST(o.amount AS DOUBLE) / o.units END AS mean_unit_price,
    CASE WHEN o.amount > 0 THEN CAST(o.expensive_amount / o.amount AS DOUBLE) ELSE 0.0 END AS expensive_item_share,
    o.max_price_vs_category,
    -- against the customer's own history
    CAST(o.prev_orders AS BIGINT) AS prev_orders,
    o.prev_orders = 0 AS is_first_order,
    o.prev_mean_amount,
    o.prev_std_amount,
    CASE WHEN o.prev_mean_amount > 0 THEN CAST(o.amount AS DOUBLE) / o.prev_mean_amount END AS amount_vs_customer_mean,
    CASE WHEN o.prev_std_amount > 0 THEN (CAST(o.amount AS DOUBLE) - o.prev_mean_amount) / o.prev_std_amount END AS amount_zscore,
    (epoch_ms(o.order_time) - epoch_ms(o.prev_order_time)) / 86400000.0 AS days_since_prev_order,
    CAST(o.orders_last_1h AS BIGINT) AS orders_last_1h,
    CAST(o.orders_last_24h AS BIGINT) AS orders_last_24h,
    o.amount_last_24h,
    (epoch_ms(o.order_time) - epoch_ms(f.first_seen)) / 86400000.0 AS account_age_days,
    CAST(coalesce(eb.customer_events_before, 0) AS BIGINT) AS customer_events_before,
    CAST(coalesce(cb.categories_before, 0) AS BIGINT) AS categories_before,
    CASE WHEN nc.order_categories > 0 THEN nc.new_categories / nc.order_categories END AS new_category_share,
    coalesce(nc.new_categories, 0) > 0 AS is_new_category,
    -- the session that led to the order
    CAST(coalesce(sa.session_views, 0) AS BIGINT) AS session_views,
    CAST(coalesce(sa.session_carts, 0) AS BIGINT) AS session_carts,
    (epoch_ms(o.order_time) - epoch_ms(sa.first_cart_time)) / 1000.0 AS cart_to_purchase_seconds,
    (epoch_ms(o.order_time) - epoch_ms(s.started_at)) / 1000.0 AS session_seconds,
    -- when
    CAST(hour(o.order_time) AS INTEGER) AS order_hour,
    CASE WHEN hp.earlier_orders > 0 THEN hp.earlier_hour_orders / hp.earlier_orders END AS hour_order_share
FROM order_history AS o
JOIN customer_first_seen AS f ON f.user_id = o.user_id
JOIN order_starts AS s ON s.user_id = o.user_id AND s.order_key = o.order_key
LEFT JOIN events_before AS eb ON eb.user_id = o.user_id AND eb.order_key = o.order_key
LEFT JOIN categories_before AS cb ON cb.user_id = o.user_id AND cb.order_key = o.order_key
LEFT JOIN new_categories AS nc ON nc.user_id = o.user_id AND nc.order_key = o.order_key
LEFT JOIN session_activity AS sa ON sa.user_id = o.user_id AND sa.order_key = o.order_key
LEFT JOIN hour_profile AS hp ON hp.day = CAST(o.order_time AS DATE) AND hp.hour = hour(o.order_time)
WHERE $since IS NULL OR o.order_time >= $since
ORDER BY o.order_time, o.order_key, o.user_id
