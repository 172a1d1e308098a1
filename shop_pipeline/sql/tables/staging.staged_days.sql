-- staging.staged_days: what each staged day was computed from (warehouse/staging.py): a day whose
-- landed files, rules and staging code are unchanged is not staged again. Created by every
-- read-write connection.
CREATE TABLE IF NOT EXISTS staging.staged_days (
    partition_date DATE PRIMARY KEY,    -- the staged day
    fingerprint VARCHAR NOT NULL        -- of its landed files, the rules and the staging code
);
