-- raw.events: structurally sound rows of the landed files, every value still text, with their file
-- and 1-based data line (warehouse/ingest.py). Created by every read-write connection.
CREATE TABLE IF NOT EXISTS raw.events (
    partition_date DATE NOT NULL,       -- day of the landed file (its partition)
    source_file VARCHAR NOT NULL,       -- path relative to the landing folder
    line BIGINT NOT NULL,               -- 1-based data line in the file
    event_id VARCHAR,                   -- as landed (text)
    event_time VARCHAR,                 -- as landed (text)
    event_type VARCHAR,                 -- as landed (text)
    user_id VARCHAR,                    -- as landed (text)
    session_id VARCHAR,                 -- as landed (text)
    product_id VARCHAR,                 -- as landed (text)
    category VARCHAR,                   -- as landed (text)
    brand VARCHAR,                      -- as landed (text)
    price VARCHAR,                      -- as landed (text)
    quantity VARCHAR,                   -- as landed (text)
    order_id VARCHAR,                   -- as landed (text)
    ingested_at TIMESTAMP NOT NULL      -- first time these bytes were ingested (UTC)
);
