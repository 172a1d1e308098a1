-- privacy.erasures: the audit log of `shop-pipeline forget` (warehouse/erase.py, forget.py); no id.
CREATE TABLE IF NOT EXISTS privacy.erasures (
    request_id VARCHAR NOT NULL,        -- given with --request-id, or made up; one row per request
    erased_at TIMESTAMP NOT NULL,       -- when its rows were removed (UTC)
    customers INTEGER NOT NULL,         -- how many customers the request named
    rows_removed JSON NOT NULL,         -- table -> rows removed
    landing_files INTEGER NOT NULL,     -- landed files rewritten without their lines
    status VARCHAR NOT NULL,            -- rows_erased | complete (landing files, snapshot, logs, file compacted)
    PRIMARY KEY (request_id)
);
