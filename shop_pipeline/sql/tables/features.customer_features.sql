-- features.customer_features: one row per customer seen before the cut-off, computed by
-- sql/customer_features.sql (features/tables.py), written by its changes. Durations are days
-- (fractional) up to the cut-off; anonymous buyers ('guest:...') are not customers.
CREATE TABLE IF NOT EXISTS features.customer_features (
    customer_id VARCHAR NOT NULL,       -- the user_id of the events
    as_of DATE NOT NULL,                -- the last day whose events were used
    first_seen TIMESTAMP NOT NULL,      -- the customer's first event (UTC, < cut-off)
    last_seen TIMESTAMP NOT NULL,       -- the customer's last event (UTC, < cut-off)
    tenure_days DOUBLE NOT NULL,        -- days from first_seen to the cut-off
    recency_days DOUBLE NOT NULL,       -- days from the last purchase (else first_seen) to the cut-off
    frequency BIGINT NOT NULL,          -- distinct orders
    monetary DOUBLE NOT NULL,           -- spend over all orders
    avg_order_value DOUBLE NOT NULL,    -- spend / orders; 0 without orders
    sessions BIGINT NOT NULL,           -- distinct sessions
    views BIGINT NOT NULL,              -- view events
    carts BIGINT NOT NULL,              -- cart events
    purchases BIGINT NOT NULL,          -- purchase events (order lines)
    view_to_cart_rate DOUBLE NOT NULL,  -- carts / views; 0 without views
    cart_to_purchase_rate DOUBLE NOT NULL,  -- purchases / carts; 0 without carts
    category_diversity BIGINT NOT NULL,  -- distinct categories interacted with
    days_since_last_view DOUBLE NOT NULL,  -- to the cut-off; 9999 when the customer never viewed
    days_since_last_cart DOUBLE NOT NULL,  -- to the cut-off; 9999 when the customer never carted
    mean_interpurchase_days DOUBLE,     -- mean gap between orders; NULL with fewer than two orders
    orders_last_30d BIGINT NOT NULL,    -- orders in the 30 days before the cut-off
    orders_last_90d BIGINT NOT NULL,    -- orders in the 90 days before the cut-off
    spend_last_30d DOUBLE NOT NULL,     -- spend in the 30 days before the cut-off
    spend_last_90d DOUBLE NOT NULL,     -- spend in the 90 days before the cut-off
    PRIMARY KEY (customer_id)
);
