-- The days after the cut-off for which demand is forecast: one row per product and each of
-- the $horizon_days days after $as_of, holding only what is known in advance.
--
-- Parameters: $as_of (DATE), $cutoff (TIMESTAMP, $as_of + 1 day 00:00 UTC), $horizon_days
-- (INTEGER), $ad_spend_known_through (DATE or NULL: planned ad spend after this day is not
-- known; NULL = every row of raw.ad_spend is a plan).
--
-- Products are those of product_daily_sales at the same $as_of (seen in events before the
-- cut-off that had landed by $as_of, or in the catalog with a list price and launched by
-- $as_of).
--
-- The future price is an assumption, stated here and in the README, never a maximum:
--   regular_price = the product's last price paid (seen) before the cut-off: the median of the
--                   prices of its last 5 priced events, each with the promotion discount of its
--                   day taken off again (so a single line keyed at 20x the price is not the
--                   future's price); a product never seen with a price: its catalog price;
--   shown_price   = regular_price x (1 - the planned discount of the day) (raw.promotions,
--                   the largest discount active on the day, end date inclusive).
-- A what-if (another price, another promotion) is a future frame with other values: the
-- forecast reads only these columns.
-- list_price is the history's list_price as of $as_of (the catalog price, else the highest
-- price seen before the cut-off): a feature (price_vs_list), not the price assumed.
-- ad_spend is the planned spend in raw.ad_spend for the day and category when a row exists
-- (and its day is on or before $ad_spend_known_through), else the category's mean daily
-- spend over the 28 days up to $as_of (not before the first landed day; a day without a row
-- counts as 0).
WITH events AS (
    SELECT product_id, category, brand, event_id, event_time, CAST(price AS DECIMAL(18, 4)) AS price
    FROM staging.events
    WHERE event_time < $cutoff
      AND partition_date <= $as_of
),
landed AS (
    SELECT min(partition_date) AS first_landed_day
    FROM staging.events
    WHERE partition_date <= $as_of
),
last_events AS (
    -- the product's last priced events before the cut-off
    SELECT product_id, event_id, CAST(event_time AS DATE) AS day, price
    FROM events
    WHERE price IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY event_time DESC, event_id DESC) <= 5
),
regular_prices AS (
    -- each price with the promotion of its day taken off (a 100% discount cannot be undone), and
    -- the median of those: one line keyed at 20x the price does not become the future's price
    SELECT product_id, median(regular_price) AS regular_price
    FROM (
        SELECT
            e.product_id,
            e.price / (1.0 - coalesce(max(pr.discount_pct) FILTER (WHERE pr.discount_pct < 1), 0)) AS regular_price
        FROM last_events AS e
        LEFT JOIN raw.promotions AS pr
          ON pr.product_id = e.product_id AND e.day BETWEEN pr.start_date AND pr.end_date
        GROUP BY e.product_id, e.event_id, e.price
    )
    GROUP BY product_id
),
seen AS (
    SELECT
        product_id,
        max(price) AS max_price,
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
        CAST(coalesce(CAST(c.base_price AS DECIMAL(18, 4)), s.max_price) AS DOUBLE) AS list_price,
        CAST(coalesce(r.regular_price, c.base_price) AS DOUBLE) AS regular_price
    FROM seen AS s
    FULL OUTER JOIN raw.products AS c ON c.product_id = s.product_id
    LEFT JOIN regular_prices AS r ON r.product_id = coalesce(s.product_id, c.product_id)
    WHERE s.product_id IS NOT NULL
       OR (c.base_price IS NOT NULL AND c.launched_on <= $as_of)
),
future_days AS (
    SELECT CAST(g.day AS DATE) AS day
    FROM generate_series(
        CAST($as_of AS DATE) + INTERVAL 1 DAY,
        CAST($as_of AS DATE) + to_days(CAST($horizon_days AS INTEGER)),
        INTERVAL 1 DAY
    ) AS g(day)
),
grid AS (
    SELECT p.*, d.day
    FROM products AS p
    CROSS JOIN future_days AS d
),
promos AS (
    -- the largest discount of the promotions active on the day (end date inclusive)
    SELECT g.product_id, g.day, max(pr.discount_pct) AS discount_pct
    FROM grid AS g
    JOIN raw.promotions AS pr
      ON pr.product_id = g.product_id AND g.day BETWEEN pr.start_date AND pr.end_date
    GROUP BY g.product_id, g.day
),
planned_ads AS (
    SELECT date AS day, category, sum(CAST(ad_spend AS DECIMAL(18, 4))) AS ad_spend
    FROM raw.ad_spend
    WHERE date > $as_of
      AND ($ad_spend_known_through IS NULL OR date <= $ad_spend_known_through)
    GROUP BY date, category
),
recent_ads AS (
    SELECT
        a.category,
        sum(CAST(a.ad_spend AS DECIMAL(18, 4)))
            / (CAST($as_of AS DATE) - greatest(l.first_landed_day, CAST($as_of AS DATE) - 27) + 1) AS ad_spend
    FROM raw.ad_spend AS a
    CROSS JOIN landed AS l
    WHERE a.date <= $as_of
      AND a.date >= greatest(l.first_landed_day, CAST($as_of AS DATE) - 27)
    GROUP BY a.category, l.first_landed_day
)
SELECT
    g.product_id,
    g.day,
    g.category,
    g.brand,
    g.list_price,
    CAST(coalesce(pr.discount_pct, 0) AS DOUBLE) AS promo_discount_pct,
    coalesce(pr.discount_pct, 0) > 0 AS is_promo,
    g.regular_price * (1.0 - coalesce(pr.discount_pct, 0)) AS shown_price,
    CAST(isodow(g.day) AS INTEGER) AS day_of_week,            -- 1 = Monday .. 7 = Sunday
    CAST(dayofyear(g.day) AS INTEGER) AS day_of_year,
    CAST(month(g.day) AS INTEGER) AS month,
    isodow(g.day) >= 6 AS is_weekend,
    CAST(coalesce(p.ad_spend, r.ad_spend, 0) AS DOUBLE) AS ad_spend
FROM grid AS g
LEFT JOIN promos AS pr ON pr.product_id = g.product_id AND pr.day = g.day
LEFT JOIN planned_ads AS p ON p.category = g.category AND p.day = g.day
LEFT JOIN recent_ads AS r ON r.category = g.category
ORDER BY g.product_id, g.day
