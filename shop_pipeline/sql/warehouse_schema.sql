-- Tables of the ingestion and staging stages, and the feature audits' record. Fixed DDL:
-- writers insert BY NAME.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;

-- One row per landed file and partition: what was read, what became of it.
CREATE TABLE IF NOT EXISTS raw.ingested_files (
    path VARCHAR NOT NULL,              -- relative to $SHOP_PIPELINE_HOME/landing
    partition_date DATE NOT NULL,
    size_bytes BIGINT,
    sha256 VARCHAR,
    file_format VARCHAR,
    status VARCHAR NOT NULL,            -- ingested | duplicate_file | failed
    duplicate_of VARCHAR,               -- for duplicate_file: the path first ingested with these bytes
    first_event_time TIMESTAMP,         -- UTC, over the file's clean rows
    last_event_time TIMESTAMP,
    rows_read BIGINT,                   -- data lines (or Parquet rows) in the file
    rows_clean BIGINT,
    rows_quarantined BIGINT,
    rows_duplicate BIGINT,
    error VARCHAR,
    ingested_at TIMESTAMP NOT NULL,     -- first time these bytes were ingested at this path
    modified_ns BIGINT,                 -- the file's modification time when recorded: same size and time, not read again
    PRIMARY KEY (path, partition_date)
);
ALTER TABLE raw.ingested_files ADD COLUMN IF NOT EXISTS modified_ns BIGINT;

-- Structurally sound rows, every value still text, with their file and 1-based data line.
CREATE TABLE IF NOT EXISTS raw.events (
    partition_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    line BIGINT NOT NULL,
    event_id VARCHAR,
    event_time VARCHAR,
    event_type VARCHAR,
    user_id VARCHAR,
    session_id VARCHAR,
    product_id VARCHAR,
    category VARCHAR,
    brand VARCHAR,
    price VARCHAR,
    quantity VARCHAR,
    order_id VARCHAR,
    ingested_at TIMESTAMP NOT NULL
);

-- Lines the reader could not turn into a row (blank, malformed, not UTF-8).
CREATE TABLE IF NOT EXISTS raw.rejected_lines (
    partition_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    line BIGINT NOT NULL,
    raw_record VARCHAR,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    ingested_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.products (
    product_id VARCHAR PRIMARY KEY,
    name VARCHAR,
    category VARCHAR,
    brand VARCHAR,
    base_price DOUBLE,
    launched_on DATE
);

CREATE TABLE IF NOT EXISTS raw.ad_spend (
    date DATE NOT NULL,
    category VARCHAR NOT NULL,
    ad_spend DOUBLE NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.promotions (
    product_id VARCHAR NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    discount_pct DOUBLE NOT NULL
);

-- The canonical clean event: typed, UTC, one row per real event.
CREATE TABLE IF NOT EXISTS staging.events (
    partition_date DATE NOT NULL,
    event_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,      -- UTC
    event_type VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    session_id VARCHAR,
    product_id VARCHAR NOT NULL,
    category VARCHAR,
    brand VARCHAR,
    price DOUBLE NOT NULL,
    quantity INTEGER NOT NULL,
    order_id VARCHAR,
    is_late BOOLEAN NOT NULL,           -- event_time falls before its file's day
    source_file VARCHAR NOT NULL,
    line BIGINT NOT NULL,
    ingested_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.quarantined_events (
    partition_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    line BIGINT NOT NULL,
    event_id VARCHAR,
    raw_record VARCHAR,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL
);

-- Rows dropped as repeats of an earlier event, with the occurrence that was kept.
CREATE TABLE IF NOT EXISTS staging.duplicate_events (
    partition_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    line BIGINT NOT NULL,
    event_id VARCHAR NOT NULL,
    duplicate_kind VARCHAR NOT NULL,    -- same_event_id | same_content
    kept_source_file VARCHAR NOT NULL,
    kept_line BIGINT NOT NULL
);

-- What each staged day was computed from (warehouse/staging.py): a day whose landed files, rules
-- and staging code are unchanged is not staged again.
CREATE TABLE IF NOT EXISTS staging.staged_days (
    partition_date DATE PRIMARY KEY,
    fingerprint VARCHAR NOT NULL
);

-- Which suite last audited each feature table (quality/feature_suites.py): rows a daily write
-- did not touch were audited by it, so only another suite must audit every row again.
CREATE SCHEMA IF NOT EXISTS features;
CREATE TABLE IF NOT EXISTS features.table_audits (
    table_name VARCHAR PRIMARY KEY,
    suite VARCHAR NOT NULL,
    as_of DATE NOT NULL
);

-- What each feature table built from a point on (features/staged_changes.py) reflects: its
-- cut-off and parameters, and a fingerprint of every staged partition it was built from.
CREATE TABLE IF NOT EXISTS features.table_builds (
    table_name VARCHAR PRIMARY KEY,
    as_of DATE NOT NULL,
    parameters VARCHAR NOT NULL,        -- JSON of the build's parameters
    table_rows BIGINT NOT NULL          -- rows the build left (another count: the table was edited)
);
CREATE TABLE IF NOT EXISTS features.built_partitions (
    table_name VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    events BIGINT NOT NULL,
    first_event_time TIMESTAMP NOT NULL,
    fingerprint UBIGINT NOT NULL,       -- XOR of the hashes of the partition's staged rows
    PRIMARY KEY (table_name, partition_date)
);
