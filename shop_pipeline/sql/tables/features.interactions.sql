-- features.interactions: the weighted implicit signal of each (customer, product) pair as of the
-- cut-off, computed by sql/interactions.sql (features/interactions.py), written by its changes.
CREATE TABLE IF NOT EXISTS features.interactions (
    customer_id VARCHAR NOT NULL,       -- the user_id of the events
    product_id VARCHAR NOT NULL,        -- the product
    category VARCHAR,                   -- the catalog's, else the product's latest event category
    views BIGINT NOT NULL,              -- view events of the pair
    carts BIGINT NOT NULL,              -- cart events of the pair
    purchases BIGINT NOT NULL,          -- purchase events of the pair
    orders BIGINT NOT NULL,             -- distinct orders holding the product
    weight DOUBLE NOT NULL,             -- time-decayed, type-weighted signal (> 0)
    first_interaction TIMESTAMP NOT NULL,  -- the pair's first event (UTC)
    last_interaction TIMESTAMP NOT NULL,  -- the pair's last event (UTC)
    last_purchase TIMESTAMP,            -- NULL when never bought
    in_catalog BOOLEAN NOT NULL,        -- listed in raw.products (or no catalog at all)
    as_of DATE NOT NULL,                -- the last day whose events were used
    PRIMARY KEY (customer_id, product_id)
);
