-- features.table_builds: what each feature table built from a point on (features/staged_changes.py)
-- reflects: its cut-off and parameters. Created by every read-write connection.
CREATE TABLE IF NOT EXISTS features.table_builds (
    table_name VARCHAR PRIMARY KEY,     -- schema.table of the feature table
    as_of DATE NOT NULL,                -- the cut-off of its last build
    parameters VARCHAR NOT NULL,        -- JSON of the build's parameters
    table_rows BIGINT NOT NULL          -- rows the build left (another count: the table was edited)
);
