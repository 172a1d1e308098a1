-- staging.events: the canonical clean event, typed and in UTC, one row per real event
-- (warehouse/staging.py, sql/stage_events.sql). Created by every read-write connection.
CREATE TABLE IF NOT EXISTS staging.events (
    partition_date DATE NOT NULL,       -- day of the landed file
    event_id VARCHAR NOT NULL,          -- unique per event
    event_time TIMESTAMP NOT NULL,      -- UTC
    event_type VARCHAR NOT NULL,        -- view | cart | remove_from_cart | purchase
    user_id VARCHAR NOT NULL,           -- the customer ('guest:<order>' for a sale without one)
    session_id VARCHAR,                 -- the visit, when the source has one
    product_id VARCHAR NOT NULL,        -- the product
    category VARCHAR,                   -- as the event gives it
    brand VARCHAR,                      -- as the event gives it
    price DOUBLE NOT NULL,              -- unit price paid or shown
    quantity INTEGER NOT NULL,          -- >= 1
    order_id VARCHAR,                   -- set on purchases
    is_late BOOLEAN NOT NULL,           -- event_time falls before its file's day
    source_file VARCHAR NOT NULL,       -- lineage: landed file
    line BIGINT NOT NULL,               -- lineage: 1-based data line
    ingested_at TIMESTAMP NOT NULL      -- when its file was first ingested (UTC)
);
