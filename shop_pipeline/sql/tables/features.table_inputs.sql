-- features.table_inputs: the inputs of each feature table's last audited build
-- (features/staged_changes.py): unchanged inputs leave the table as it is. Created when the first
-- audited build is recorded.
CREATE TABLE IF NOT EXISTS features.table_inputs (
    table_name VARCHAR PRIMARY KEY,     -- schema.table of the feature table
    inputs_key VARCHAR NOT NULL,        -- what the last audited build was computed from
    table_rows BIGINT NOT NULL          -- rows it left (another count: the table was edited)
);
