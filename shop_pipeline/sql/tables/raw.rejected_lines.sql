-- raw.rejected_lines: lines the reader could not turn into a row (blank, malformed, not UTF-8)
-- (warehouse/ingest.py). Created by every read-write connection.
CREATE TABLE IF NOT EXISTS raw.rejected_lines (
    partition_date DATE NOT NULL,       -- day of the landed file
    source_file VARCHAR NOT NULL,       -- path relative to the landing folder
    line BIGINT NOT NULL,               -- 1-based data line in the file
    raw_record VARCHAR,                 -- the line as read, when it could be decoded
    reason_code VARCHAR NOT NULL,       -- blank_line | malformed_line | invalid_encoding ...
    reason VARCHAR NOT NULL,            -- the same, for a person
    ingested_at TIMESTAMP NOT NULL      -- first time these bytes were ingested (UTC)
);
