-- features.order_features: one row per order before the cut-off, each measured only on what was
-- known at the order; computed by sql/order_features.sql (features/order_features.py), written by
-- its changes. Ratios with a zero denominator are NULL.
CREATE TABLE IF NOT EXISTS features.order_features (
    order_id VARCHAR NOT NULL,          -- the order
    customer_id VARCHAR NOT NULL,       -- the buyer (an order_id shared by customers is one row each)
    order_time TIMESTAMP NOT NULL,      -- the order's first purchase event (UTC)
    order_day DATE NOT NULL,            -- UTC day of order_time
    as_of DATE NOT NULL,                -- the last day whose events were used
    session_id VARCHAR,                 -- the session the order was placed in
    amount DOUBLE NOT NULL,             -- sum(price x quantity) of the order's purchase lines
    items BIGINT NOT NULL,              -- purchase lines
    units BIGINT NOT NULL,              -- sum of quantities
    distinct_products BIGINT NOT NULL,  -- distinct products in the order
    distinct_categories BIGINT NOT NULL,  -- distinct categories in the order
    max_item_price DOUBLE NOT NULL,     -- highest unit price in the order
    mean_unit_price DOUBLE,             -- amount / units
    expensive_item_share DOUBLE NOT NULL,  -- share of the amount in lines priced >= EXPENSIVE_RATIO (1.5) x their category's
                                        -- reference (mean price of the days before); 0 without a reference
    max_price_vs_category DOUBLE,       -- max over lines of price / category reference price; NULL without one
    prev_orders BIGINT NOT NULL,        -- the customer's earlier orders (0 for a first order)
    is_first_order BOOLEAN NOT NULL,    -- prev_orders = 0
    prev_mean_amount DOUBLE,            -- mean amount of the earlier orders; NULL for a first order
    prev_std_amount DOUBLE,             -- their standard deviation; NULL with fewer than two
    amount_vs_customer_mean DOUBLE,     -- amount / prev_mean_amount
    amount_zscore DOUBLE,               -- (amount - prev_mean_amount) / prev_std_amount
    days_since_prev_order DOUBLE,       -- NULL for a first order
    orders_last_1h BIGINT NOT NULL,     -- the customer's other orders in the hour up to order_time
    orders_last_24h BIGINT NOT NULL,    -- the customer's other orders in the day up to order_time
    amount_last_24h DOUBLE NOT NULL,    -- their amount
    account_age_days DOUBLE NOT NULL,   -- order_time minus the customer's first event (any type)
    customer_events_before BIGINT NOT NULL,  -- the customer's events before the order's session began
    categories_before BIGINT NOT NULL,  -- distinct categories the customer touched before the session
    new_category_share DOUBLE,          -- share of the order's categories first touched in this session;
                                        -- NULL when no line has a category
    is_new_category BOOLEAN NOT NULL,   -- new_category_share > 0
    session_views BIGINT NOT NULL,      -- views of the order's session up to the order (since its previous order)
    session_carts BIGINT NOT NULL,      -- carts of the order's session up to the order (since its previous order)
    cart_to_purchase_seconds DOUBLE,    -- order_time minus the first cart counted above; NULL when bought directly
    session_seconds DOUBLE NOT NULL,    -- order_time minus the session's first event (0 without a session)
    order_hour INTEGER NOT NULL,        -- UTC hour of day 0..23
    hour_order_share DOUBLE,            -- share of the earlier days' orders placed in this hour;
                                        -- NULL on the shop's first day of orders
    PRIMARY KEY (customer_id, order_id)
);
