-- The raw files in arrival order (ingested_at, partition, name): a file's rank times 2^32 plus
-- a row's line is the row's place in arrival order (sql/stage_events.sql).
CREATE OR REPLACE TEMP TABLE staged_files AS
SELECT ingested_at, partition_date, source_file,
       row_number() OVER (ORDER BY ingested_at, partition_date, source_file) AS file_rank
FROM (SELECT DISTINCT ingested_at, partition_date, source_file FROM raw.events)
