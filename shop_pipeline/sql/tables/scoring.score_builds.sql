-- scoring.score_builds: what each score table's rows were computed from (warehouse/scores.py): the
-- same inputs key again, and the scores are not computed again.
CREATE TABLE IF NOT EXISTS scoring.score_builds (
    table_name VARCHAR NOT NULL PRIMARY KEY,  -- schema.table of the score table
    inputs_key VARCHAR NOT NULL,      -- what the rows were computed from (ml/lifecycle.inputs_key)
    table_rows BIGINT NOT NULL,       -- rows the write left (another count: the table was edited)
    written_at TIMESTAMP NOT NULL     -- UTC
);
