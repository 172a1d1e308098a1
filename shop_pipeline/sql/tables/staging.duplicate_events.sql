-- staging.duplicate_events: rows dropped as repeats of an earlier event, with the occurrence that
-- was kept (warehouse/staging.py). Created by every read-write connection.
CREATE TABLE IF NOT EXISTS staging.duplicate_events (
    partition_date DATE NOT NULL,       -- day of the landed file of the dropped row
    source_file VARCHAR NOT NULL,       -- landed file of the dropped row
    line BIGINT NOT NULL,               -- 1-based data line of the dropped row
    event_id VARCHAR NOT NULL,          -- the dropped row's event_id
    duplicate_kind VARCHAR NOT NULL,    -- same_event_id | same_content
    kept_source_file VARCHAR NOT NULL,  -- landed file of the occurrence kept
    kept_line BIGINT NOT NULL           -- its 1-based data line
);
