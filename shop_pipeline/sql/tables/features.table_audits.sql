-- features.table_audits: which suite last audited each feature table (quality/feature_suites.py):
-- rows a daily write did not touch were audited by it, so only another suite must audit every row
-- again. Created by every read-write connection.
CREATE TABLE IF NOT EXISTS features.table_audits (
    table_name VARCHAR PRIMARY KEY,     -- schema.table of the feature table
    suite VARCHAR NOT NULL,             -- name and version of the suite that audited it
    as_of DATE NOT NULL                 -- the cut-off of that audit
);
