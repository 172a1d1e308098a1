-- staging.quarantined_events: every row that broke a rule, with its file, line, raw record and a
-- readable reason (warehouse/staging.py). Created by every read-write connection.
CREATE TABLE IF NOT EXISTS staging.quarantined_events (
    partition_date DATE NOT NULL,       -- day of the landed file
    source_file VARCHAR NOT NULL,       -- landed file
    line BIGINT NOT NULL,               -- 1-based data line
    event_id VARCHAR,                   -- when readable
    raw_record VARCHAR,                 -- the line, or its fields as JSON
    reason_code VARCHAR NOT NULL,       -- first rule the row breaks
    reason VARCHAR NOT NULL             -- the same, for a person
);
