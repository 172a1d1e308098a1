-- raw.ingested_files: one row per landed file and partition, what was read and what became of it
-- (warehouse/ingest.py). Created by every read-write connection.
CREATE TABLE IF NOT EXISTS raw.ingested_files (
    path VARCHAR NOT NULL,              -- relative to $SHOP_PIPELINE_HOME/landing
    partition_date DATE NOT NULL,       -- the day the file's name gives (its partition)
    size_bytes BIGINT,                  -- the file's size when read
    sha256 VARCHAR,                     -- of the file's bytes: the same bytes are ingested once
    file_format VARCHAR,                -- how it was read: csv, jsonl or parquet (by its name)
    status VARCHAR NOT NULL,            -- ingested | duplicate_file | failed
    duplicate_of VARCHAR,               -- for duplicate_file: the path first ingested with these bytes
    first_event_time TIMESTAMP,         -- UTC, over the file's clean rows
    last_event_time TIMESTAMP,          -- UTC, over the file's clean rows
    rows_read BIGINT,                   -- data lines (or Parquet rows) in the file
    rows_clean BIGINT,                  -- rows that became clean events
    rows_quarantined BIGINT,            -- rows set aside with a reason
    rows_duplicate BIGINT,              -- rows dropped as repeats of an earlier event
    error VARCHAR,                      -- for failed: why, for a person
    ingested_at TIMESTAMP NOT NULL,     -- first time these bytes were ingested at this path (UTC)
    modified_ns BIGINT,                 -- the file's modification time when recorded: same size and time, not read again
    rows_erased BIGINT,                 -- rows of erased customers dropped at ingestion (privacy.tombstones)
    PRIMARY KEY (path, partition_date)
);
-- warehouses written before the modification time was recorded
ALTER TABLE raw.ingested_files ADD COLUMN IF NOT EXISTS modified_ns BIGINT;
-- rows of erased customers dropped at ingestion (their tombstones: warehouse/erase.py)
ALTER TABLE raw.ingested_files ADD COLUMN IF NOT EXISTS rows_erased BIGINT;
