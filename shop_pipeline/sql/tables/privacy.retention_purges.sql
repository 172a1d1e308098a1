-- privacy.retention_purges: the audit log of the retention purge (warehouse/expire.py, retention.py);
-- the latest cut-off is also the ingestion's: rows before it are dropped when a file lands again.
CREATE TABLE IF NOT EXISTS privacy.retention_purges (
    request_id VARCHAR NOT NULL,        -- retention-<cut-off day>: one purge per cut-off, a re-run is the same
    purged_at TIMESTAMP NOT NULL,       -- when its rows were removed (UTC)
    cutoff DATE NOT NULL,               -- events before this day (UTC) are purged
    retention_days INTEGER NOT NULL,    -- the setting that gave the cut-off
    rows_removed JSON NOT NULL,         -- table -> rows removed
    landing_files_removed INTEGER NOT NULL,    -- landed files dated before the cut-off, deleted
    landing_files_rewritten INTEGER NOT NULL,  -- later files rewritten without their expired lines
    status VARCHAR NOT NULL,            -- rows_purged | complete (landing files, snapshot, logs, file compacted)
    PRIMARY KEY (request_id)
);
