-- Spark override of order_features.sql (docs/cluster_sql.md): the same statement, but the
-- customer's events before each order's start are counted with a running count over the
-- customer's events and order starts in time order, where the DuckDB file uses an ASOF JOIN
-- (Spark SQL has none). Generated from the DuckDB file by sqlglot with that one CTE changed:
-- keep the two in step (the EXPLAIN and parity tests in shop_pipeline_tests/engine/ run both).
WITH events AS (
  SELECT
    user_id,
    session_id,
    event_type,
    product_id,
    category,
    event_time,
    price,
    quantity,
    COALESCE(order_id, event_id) AS order_key
  FROM staging.events
  WHERE
    event_time < :cutoff AND partition_date <= :as_of
), customer_events AS (
  SELECT
    *
  FROM events
  WHERE
    :since IS NULL
    OR user_id IN (
      SELECT
        user_id
      FROM events
      WHERE
        event_type = 'purchase' AND event_time >= :since
    )
), category_days AS (
  SELECT
    category,
    CAST(event_time AS DATE) AS day,
    SUM(CAST(price AS DECIMAL(18, 4))) AS price_sum,
    COUNT(*) AS n
  FROM events
  WHERE
    NOT category IS NULL
  GROUP BY
    category,
    day
), category_reference AS (
  SELECT
    category,
    day,
    CAST(SUM(price_sum) OVER earlier AS DOUBLE) / (
      SUM(n) OVER earlier
    ) AS reference_price
  FROM category_days
  WINDOW earlier AS (
    PARTITION BY category
    ORDER BY day NULLS LAST
    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
  )
), purchase_lines AS (
  SELECT
    e.user_id,
    e.order_key,
    e.session_id,
    e.product_id,
    e.category,
    e.event_time,
    e.price,
    e.quantity,
    CAST(e.price AS DECIMAL(18, 4)) * e.quantity AS line_amount,
    r.reference_price
  FROM customer_events AS e
  LEFT JOIN category_reference AS r
    ON r.category = e.category AND r.day = CAST(e.event_time AS DATE)
  WHERE
    e.event_type = 'purchase'
), orders AS (
  SELECT
    user_id,
    order_key,
    MIN(event_time) AS order_time,
    MIN(session_id) AS session_id,
    SUM(line_amount) AS amount,
    COUNT(*) AS items,
    SUM(quantity) AS units,
    COUNT(DISTINCT product_id) AS distinct_products,
    COUNT(DISTINCT category) AS distinct_categories,
    MAX(price) AS max_item_price,
    COALESCE(SUM(line_amount) FILTER(WHERE
      price >= :expensive_ratio * reference_price), 0) AS expensive_amount,
    MAX(CAST(price AS DOUBLE) / NULLIF(reference_price, 0)) AS max_price_vs_category
  FROM purchase_lines
  GROUP BY
    user_id,
    order_key
), order_history AS (
  SELECT
    o.*,
    COUNT(*) OVER previous AS prev_orders,
    CAST(AVG(CAST(amount AS DOUBLE)) OVER previous AS DOUBLE) AS prev_mean_amount,
    STDDEV_SAMP(CAST(amount AS DOUBLE)) OVER previous AS prev_std_amount,
    MAX(order_time) OVER previous AS prev_order_time,
    (
      COUNT(*) OVER last_hour
    ) - 1 AS orders_last_1h,
    (
      COUNT(*) OVER last_day
    ) - 1 AS orders_last_24h,
    CAST((
      SUM(amount) OVER last_day
    ) - amount AS DOUBLE) AS amount_last_24h
  FROM orders AS o
  WINDOW previous AS (
    PARTITION BY user_id
    ORDER BY order_time NULLS LAST, order_key NULLS LAST
    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
  ), last_hour AS (
    PARTITION BY user_id
    ORDER BY order_time NULLS LAST
    RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW
  ), last_day AS (
    PARTITION BY user_id
    ORDER BY order_time NULLS LAST
    RANGE BETWEEN INTERVAL '1' DAY PRECEDING AND CURRENT ROW
  )
), customer_first_seen AS (
  SELECT
    user_id,
    MIN(event_time) AS first_seen
  FROM customer_events
  GROUP BY
    user_id
), session_starts AS (
  SELECT
    user_id,
    session_id,
    MIN(event_time) AS session_start
  FROM customer_events
  WHERE
    NOT session_id IS NULL
  GROUP BY
    user_id,
    session_id
), order_starts AS (
  SELECT
    o.user_id,
    o.order_key,
    COALESCE(s.session_start, o.order_time) AS started_at
  FROM orders AS o
  LEFT JOIN session_starts AS s
    ON s.user_id = o.user_id AND s.session_id = o.session_id
), session_orders AS (
  SELECT
    user_id,
    order_key,
    session_id,
    order_time,
    LAG(order_time) OVER (
      PARTITION BY user_id, session_id
      ORDER BY order_time NULLS LAST, order_key NULLS LAST
    ) AS prev_session_order_time
  FROM orders
  WHERE
    NOT session_id IS NULL
), session_activity AS (
  SELECT
    so.user_id,
    so.order_key,
    COUNT(*) FILTER(WHERE
      e.event_type = 'view') AS session_views,
    COUNT(*) FILTER(WHERE
      e.event_type = 'cart') AS session_carts,
    MIN(e.event_time) FILTER(WHERE
      e.event_type = 'cart') AS first_cart_time
  FROM session_orders AS so
  JOIN customer_events AS e
    ON e.user_id = so.user_id
    AND e.session_id = so.session_id
    AND e.event_type <> 'purchase'
    AND e.event_time <= so.order_time
    AND (
      so.prev_session_order_time IS NULL OR e.event_time > so.prev_session_order_time
    )
  GROUP BY
    so.user_id,
    so.order_key
), category_first_touch AS (
  SELECT
    user_id,
    category,
    MIN(event_time) AS first_touch
  FROM customer_events
  WHERE
    NOT category IS NULL
  GROUP BY
    user_id,
    category
), categories_before AS (
  SELECT
    s.user_id,
    s.order_key,
    COUNT(*) AS categories_before
  FROM order_starts AS s
  JOIN category_first_touch AS t
    ON t.user_id = s.user_id AND t.first_touch < s.started_at
  GROUP BY
    s.user_id,
    s.order_key
), order_categories AS (
  SELECT DISTINCT
    user_id,
    order_key,
    category
  FROM purchase_lines
  WHERE
    NOT category IS NULL
), new_categories AS (
  SELECT
    c.user_id,
    c.order_key,
    COUNT(*) AS order_categories,
    COUNT(*) FILTER(WHERE
      t.first_touch >= s.started_at) AS new_categories
  FROM order_categories AS c
  JOIN order_starts AS s
    ON s.user_id = c.user_id AND s.order_key = c.order_key
  JOIN category_first_touch AS t
    ON t.user_id = c.user_id AND t.category = c.category
  GROUP BY
    c.user_id,
    c.order_key
), events_before AS (
  SELECT
    user_id,
    order_key,
    customer_events_before
  FROM (
    SELECT
      user_id,
      order_key,
      is_start,
      COUNT(CASE WHEN NOT is_start THEN 1 END) OVER (
        PARTITION BY user_id
        ORDER BY t NULLS LAST, is_start DESC
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS customer_events_before
    FROM (
      SELECT
        user_id,
        CAST(NULL AS STRING) AS order_key,
        event_time AS t,
        FALSE AS is_start
      FROM customer_events
      UNION ALL
      SELECT
        user_id,
        order_key,
        started_at AS t,
        TRUE AS is_start
      FROM order_starts
    )
  )
  WHERE
    is_start
), shop_order_times AS (
  SELECT
    MIN(event_time) AS order_time
  FROM events
  WHERE
    event_type = 'purchase'
  GROUP BY
    user_id,
    order_key
), hour_days AS (
  SELECT
    CAST(order_time AS DATE) AS day,
    HOUR(order_time) AS hour,
    COUNT(*) AS n
  FROM shop_order_times
  GROUP BY
    day,
    hour
), day_totals AS (
  SELECT
    day,
    SUM(n) AS n
  FROM hour_days
  GROUP BY
    day
), hour_profile AS (
  SELECT
    h.day,
    h.hour,
    COALESCE(SUM(h.n) OVER earlier_same_hour, 0) AS earlier_hour_orders,
    d.earlier_orders
  FROM hour_days AS h
  JOIN (
    SELECT
      day,
      SUM(n) OVER (ORDER BY day NULLS LAST ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_orders
    FROM day_totals
  ) AS d
    ON d.day = h.day
  WINDOW earlier_same_hour AS (
    PARTITION BY h.hour
    ORDER BY h.day NULLS LAST
    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
  )
)
SELECT
  o.order_key AS order_id,
  o.user_id AS customer_id,
  o.order_time,
  CAST(o.order_time AS DATE) AS order_day,
  CAST(:as_of AS DATE) AS as_of,
  o.session_id,
  CAST(o.amount AS DOUBLE) AS amount,
  CAST(o.items AS BIGINT) AS items,
  CAST(o.units AS BIGINT) AS units,
  CAST(o.distinct_products AS BIGINT) AS distinct_products,
  CAST(o.distinct_categories AS BIGINT) AS distinct_categories,
  o.max_item_price,
  CASE WHEN o.units > 0 THEN CAST(o.amount AS DOUBLE) / o.units END AS mean_unit_price,
  CASE
    WHEN o.amount > 0
    THEN CAST(CAST(o.expensive_amount AS DOUBLE) / o.amount AS DOUBLE)
    ELSE 0.0
  END AS expensive_item_share,
  o.max_price_vs_category,
  CAST(o.prev_orders AS BIGINT) AS prev_orders,
  o.prev_orders = 0 AS is_first_order,
  o.prev_mean_amount,
  o.prev_std_amount,
  CASE
    WHEN o.prev_mean_amount > 0
    THEN CAST(o.amount AS DOUBLE) / o.prev_mean_amount
  END AS amount_vs_customer_mean,
  CASE
    WHEN o.prev_std_amount > 0
    THEN CAST((
      CAST(o.amount AS DOUBLE) - o.prev_mean_amount
    ) AS DOUBLE) / o.prev_std_amount
  END AS amount_zscore,
  CAST((
    UNIX_MILLIS(CAST(o.order_time AS TIMESTAMP)) - UNIX_MILLIS(CAST(o.prev_order_time AS TIMESTAMP))
  ) AS DOUBLE) / 86400000.0 AS days_since_prev_order,
  CAST(o.orders_last_1h AS BIGINT) AS orders_last_1h,
  CAST(o.orders_last_24h AS BIGINT) AS orders_last_24h,
  o.amount_last_24h,
  CAST((
    UNIX_MILLIS(CAST(o.order_time AS TIMESTAMP)) - UNIX_MILLIS(CAST(f.first_seen AS TIMESTAMP))
  ) AS DOUBLE) / 86400000.0 AS account_age_days,
  CAST(COALESCE(eb.customer_events_before, 0) AS BIGINT) AS customer_events_before,
  CAST(COALESCE(cb.categories_before, 0) AS BIGINT) AS categories_before,
  CASE
    WHEN nc.order_categories > 0
    THEN CAST(nc.new_categories AS DOUBLE) / nc.order_categories
  END AS new_category_share,
  COALESCE(nc.new_categories, 0) > 0 AS is_new_category,
  CAST(COALESCE(sa.session_views, 0) AS BIGINT) AS session_views,
  CAST(COALESCE(sa.session_carts, 0) AS BIGINT) AS session_carts,
  CAST((
    UNIX_MILLIS(CAST(o.order_time AS TIMESTAMP)) - UNIX_MILLIS(CAST(sa.first_cart_time AS TIMESTAMP))
  ) AS DOUBLE) / 1000.0 AS cart_to_purchase_seconds,
  CAST((
    UNIX_MILLIS(CAST(o.order_time AS TIMESTAMP)) - UNIX_MILLIS(CAST(s.started_at AS TIMESTAMP))
  ) AS DOUBLE) / 1000.0 AS session_seconds,
  CAST(HOUR(o.order_time) AS INT) AS order_hour,
  CASE
    WHEN hp.earlier_orders > 0
    THEN CAST(hp.earlier_hour_orders AS DOUBLE) / hp.earlier_orders
  END AS hour_order_share
FROM order_history AS o
JOIN customer_first_seen AS f
  ON f.user_id = o.user_id
JOIN order_starts AS s
  ON s.user_id = o.user_id AND s.order_key = o.order_key
LEFT JOIN events_before AS eb
  ON eb.user_id = o.user_id AND eb.order_key = o.order_key
LEFT JOIN categories_before AS cb
  ON cb.user_id = o.user_id AND cb.order_key = o.order_key
LEFT JOIN new_categories AS nc
  ON nc.user_id = o.user_id AND nc.order_key = o.order_key
LEFT JOIN session_activity AS sa
  ON sa.user_id = o.user_id AND sa.order_key = o.order_key
LEFT JOIN hour_profile AS hp
  ON hp.day = CAST(o.order_time AS DATE) AND hp.hour = HOUR(o.order_time)
WHERE
  :since IS NULL OR o.order_time >= :since
ORDER BY
  o.order_time NULLS LAST,
  o.order_key NULLS LAST,
  o.user_id NULLS LAST
