-- features.product_daily_sales: one row per product and day, a complete grid (zeros on days without
-- events) from the product's first day (or the first landed day) to as_of; computed by
-- sql/product_daily_sales.sql (features/tables.py), replaced or written by its changes.
CREATE TABLE IF NOT EXISTS features.product_daily_sales (
    product_id VARCHAR NOT NULL,        -- the product
    day DATE NOT NULL,                  -- UTC calendar day
    category VARCHAR,                   -- the product's latest category (catalog, else events)
    brand VARCHAR,                      -- the product's latest brand (catalog, else events)
    units BIGINT NOT NULL,              -- units purchased on the day
    revenue DOUBLE NOT NULL,            -- sum(price x quantity) of the day's purchases
    views BIGINT NOT NULL,              -- view events on the day
    carts BIGINT NOT NULL,              -- cart events on the day
    purchases BIGINT NOT NULL,          -- purchase events (order lines) on the day
    orders BIGINT NOT NULL,             -- distinct orders holding the product on the day
    conversion DOUBLE NOT NULL,         -- purchases / views, at most 1; 0 without views
    avg_paid_price DOUBLE,              -- revenue / units; NULL when nothing sold
    shown_price DOUBLE NOT NULL,        -- mean price on the day's events, else last known, else list price
    list_price DOUBLE NOT NULL,         -- catalog base_price (else the highest price seen so far)
    promo_discount_pct DOUBLE NOT NULL,  -- active promotion's discount (0..1), 0 when none
    is_promo BOOLEAN NOT NULL,          -- a promotion is active on the day
    ref_price_28d DOUBLE,               -- mean shown_price over the 28 days before `day`
    discount_vs_ref DOUBLE NOT NULL,    -- 1 - shown_price / ref_price_28d (0 when no reference)
    ad_spend DOUBLE NOT NULL,           -- the product's category ad spend on `day`
    day_of_week INTEGER NOT NULL,       -- ISO day of week, 1 = Monday
    day_of_year INTEGER NOT NULL,       -- 1..366
    month INTEGER NOT NULL,             -- 1..12
    is_weekend BOOLEAN NOT NULL,        -- Saturday or Sunday
    units_lag_1 BIGINT,                 -- units the day before; NULL on the product's first day
    units_lag_7 BIGINT,                 -- units seven days before; NULL in the product's first 7 days
    units_lag_14 BIGINT,                -- units fourteen days before; NULL in its first 14 days
    units_rolling_mean_7 DOUBLE,        -- mean units over the (up to) 7 days before `day`
    units_rolling_mean_28 DOUBLE,       -- mean units over the (up to) 28 days before `day`
    PRIMARY KEY (product_id, day)
);
