-- features.built_partitions: a fingerprint of every staged partition each feature table was built
-- from (features/staged_changes.py). Created by every read-write connection.
CREATE TABLE IF NOT EXISTS features.built_partitions (
    table_name VARCHAR NOT NULL,        -- schema.table of the feature table
    partition_date DATE NOT NULL,       -- a staged day it was built from
    events BIGINT NOT NULL,             -- staged events of that day
    first_event_time TIMESTAMP NOT NULL,  -- the day's earliest event_time (UTC)
    fingerprint UBIGINT NOT NULL,       -- XOR of the hashes of the partition's staged rows
    PRIMARY KEY (table_name, partition_date)
);
