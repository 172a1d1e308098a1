-- features.product_daily_sales: one row per product and day, point-in-time as of $as_of.
--
-- Parameters: $as_of (DATE, last day whose events may be used), $cutoff (TIMESTAMP,
-- $as_of + 1 day 00:00 UTC), $first_day (DATE or NULL: only rows from this day on, computed
-- from the 28 days before it and the running prices of the days before those: the same rows
-- as without it).
--
-- Leakage rule: only events with event_time < $cutoff that had landed by $as_of
-- (partition_date <= $as_of) are read, so nothing after the cut-off changes a row.
-- A day is the UTC calendar day of event_time.
--
-- Grid: every product seen in those events, plus catalog products with a list price
-- launched on or before $as_of, gets one row per day from its first day to $as_of:
-- first day = the earlier of its first event day and its launch day, but never before the
-- first landed day. Days without events carry zeros (trailing days after the last landed
-- day, when $as_of is later, are zeros too: nothing is known about them).
--
-- Money is summed as DECIMAL so the result does not depend on DuckDB's thread order.
WITH events AS (
    SELECT
        product_id, category, brand, event_type, event_id, event_time,
        coalesce(order_id, event_id) AS order_key,
        CAST(price AS DECIMAL(18, 4)) AS price,
        quantity,
        CAST(event_time AS DATE) AS day
    FROM staging.events
    WHERE event_time < $cutoff
      AND partition_date <= $as_of
),
landed AS (
    SELECT min(partition_date) AS first_landed_day
    FROM staging.events
    WHERE partition_date <= $as_of
),
daily AS (
    SELECT
        product_id,
        day,
        sum(quantity) FILTER (WHERE event_type = 'purchase') AS units,
        sum(price * quantity) FILTER (WHERE event_type = 'purchase') AS revenue,
        count(*) FILTER (WHERE event_type = 'view') AS views,
        count(*) FILTER (WHERE event_type = 'cart') AS carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        count(DISTINCT order_key) FILTER (WHERE event_type = 'purchase') AS orders,
        avg(price) AS day_price,
        max(price) AS day_max_price
    FROM events
    GROUP BY product_id, day
),
seen AS (
    SELECT
        product_id,
        min(day) AS first_event_day,
        arg_max(category, {'t': event_time, 'id': event_id}) FILTER (WHERE category IS NOT NULL) AS category,
        arg_max(brand, {'t': event_time, 'id': event_id}) FILTER (WHERE brand IS NOT NULL) AS brand
    FROM events
    GROUP BY product_id
),
products AS (
    SELECT
        coalesce(s.product_id, c.product_id) AS product_id,
        coalesce(c.category, s.category) AS category,
        coalesce(c.brand, s.brand) AS brand,
        c.base_price,
        greatest(
            l.first_landed_day,
            least(s.first_event_day, CASE WHEN c.base_price IS NOT NULL THEN c.launched_on END)
        ) AS first_day
    FROM seen AS s
    FULL OUTER JOIN raw.products AS c ON c.product_id = s.product_id
    CROSS JOIN landed AS l
    WHERE s.product_id IS NOT NULL
       OR (c.base_price IS NOT NULL AND c.launched_on <= $as_of)
),
-- with $first_day the grid starts 28 days before it (the longest window of a kept row); the
-- running list price and last price of the days before that come from `before`
spans AS (
    SELECT *, greatest(first_day, coalesce(CAST($first_day AS DATE) - 28, first_day)) AS grid_start
    FROM products
),
grid AS (
    SELECT p.product_id, p.category, p.brand, p.base_price, CAST(g.day AS DATE) AS day
    FROM spans AS p,
        LATERAL generate_series(p.grid_start, $as_of, INTERVAL 1 DAY) AS g(day)
),
before AS (
    SELECT
        d.product_id,
        max(d.day_max_price) AS max_price_before,
        arg_max(d.day_price, d.day) FILTER (WHERE d.day_price IS NOT NULL) AS last_price_before
    FROM daily AS d
    JOIN spans AS p ON p.product_id = d.product_id AND d.day < p.grid_start
    GROUP BY d.product_id
),
promos AS (
    -- the largest discount of the promotions active on the day (end date inclusive)
    SELECT g.product_id, g.day, max(pr.discount_pct) AS discount_pct
    FROM grid AS g
    JOIN raw.promotions AS pr
      ON pr.product_id = g.product_id AND g.day BETWEEN pr.start_date AND pr.end_date
    GROUP BY g.product_id, g.day
),
ads AS (
    SELECT date AS day, category, sum(CAST(ad_spend AS DECIMAL(18, 4))) AS ad_spend
    FROM raw.ad_spend
    GROUP BY date, category
),
filled AS (
    SELECT
        g.product_id,
        g.day,
        g.category,
        g.brand,
        coalesce(d.units, 0) AS units,
        coalesce(d.revenue, 0) AS revenue,
        coalesce(d.views, 0) AS views,
        coalesce(d.carts, 0) AS carts,
        coalesce(d.purchases, 0) AS purchases,
        coalesce(d.orders, 0) AS orders,
        d.day_price,
        -- the catalog price; for a product missing from the catalog, the highest price seen so far
        coalesce(
            CAST(g.base_price AS DECIMAL(18, 4)),
            greatest(
                b.max_price_before,
                max(d.day_max_price) OVER (PARTITION BY g.product_id ORDER BY g.day ROWS UNBOUNDED PRECEDING)
            )
        ) AS list_price,
        coalesce(
            last_value(d.day_price IGNORE NULLS) OVER (PARTITION BY g.product_id ORDER BY g.day ROWS UNBOUNDED PRECEDING),
            b.last_price_before
        ) AS last_known_price,
        coalesce(pr.discount_pct, 0) AS promo_discount_pct,
        coalesce(a.ad_spend, 0) AS ad_spend
    FROM grid AS g
    LEFT JOIN daily AS d ON d.product_id = g.product_id AND d.day = g.day
    LEFT JOIN before AS b ON b.product_id = g.product_id
    LEFT JOIN promos AS pr ON pr.product_id = g.product_id AND pr.day = g.day
    LEFT JOIN ads AS a ON a.category = g.category AND a.day = g.day
),
priced AS (
    SELECT
        *,
        -- the day's mean event price, else the last price seen, else the list price
        CAST(coalesce(day_price, last_known_price, list_price) AS DOUBLE) AS shown_price
    FROM filled
),
windowed AS (
    SELECT
        *,
        -- summed as DECIMAL: a DOUBLE window average depends on how DuckDB splits the
        -- partition, so its last bits would change with the table's length
        CAST(sum(CAST(shown_price AS DECIMAL(28, 10))) OVER previous_28 AS DOUBLE)
            / count(shown_price) OVER previous_28 AS ref_price_28d,
        lag(units, 1) OVER (PARTITION BY product_id ORDER BY day) AS units_lag_1,
        lag(units, 7) OVER (PARTITION BY product_id ORDER BY day) AS units_lag_7,
        lag(units, 14) OVER (PARTITION BY product_id ORDER BY day) AS units_lag_14,
        avg(units) OVER (
            PARTITION BY product_id ORDER BY day ROWS BETWEEN 7 PRECEDING AND 1 PRECEDING
        ) AS units_rolling_mean_7,
        avg(units) OVER (
            PARTITION BY product_id ORDER BY day ROWS BETWEEN 28 PRECEDING AND 1 PRECEDING
        ) AS units_rolling_mean_28
    FROM priced
    WINDOW previous_28 AS (PARTITION BY product_id ORDER BY day ROWS BETWEEN 28 PRECEDING AND 1 PRECEDING)
)
SELECT
    product_id,
    day,
    category,
    brand,
    CAST(units AS BIGINT) AS units,
    CAST(revenue AS DOUBLE) AS revenue,
    CAST(views AS BIGINT) AS views,
    CAST(carts AS BIGINT) AS carts,
    CAST(purchases AS BIGINT) AS purchases,
    CAST(orders AS BIGINT) AS orders,
    -- purchase events per view, capped at 1 (a purchase may follow a view of an earlier day);
    -- 0 on a day without views
    CASE WHEN views > 0 THEN least(1.0, purchases / views) ELSE 0.0 END AS conversion,
    CASE WHEN units > 0 THEN CAST(revenue / units AS DOUBLE) END AS avg_paid_price,
    shown_price,
    CAST(list_price AS DOUBLE) AS list_price,
    CAST(promo_discount_pct AS DOUBLE) AS promo_discount_pct,
    promo_discount_pct > 0 AS is_promo,
    -- NULL on the product's first grid day (no earlier day to compare with)
    ref_price_28d,
    CASE WHEN ref_price_28d > 0 THEN 1.0 - shown_price / ref_price_28d ELSE 0.0 END AS discount_vs_ref,
    CAST(ad_spend AS DOUBLE) AS ad_spend,
    CAST(isodow(day) AS INTEGER) AS day_of_week,            -- 1 = Monday .. 7 = Sunday
    CAST(dayofyear(day) AS INTEGER) AS day_of_year,
    CAST(month(day) AS INTEGER) AS month,
    isodow(day) >= 6 AS is_weekend,
    -- lags and rolling means use only the days before `day`; NULL while the product's grid
    -- has no such day, rolling means average the earlier days that exist (at most 7 / 28)
    CAST(units_lag_1 AS BIGINT) AS units_lag_1,
    CAST(units_lag_7 AS BIGINT) AS units_lag_7,
    CAST(units_lag_14 AS BIGINT) AS units_lag_14,
    CAST(units_rolling_mean_7 AS DOUBLE) AS units_rolling_mean_7,
    CAST(units_rolling_mean_28 AS DOUBLE) AS units_rolling_mean_28
FROM windowed
WHERE $first_day IS NULL OR day >= $first_day
ORDER BY product_id, day
