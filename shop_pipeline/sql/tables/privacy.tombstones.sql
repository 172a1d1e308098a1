-- privacy.tombstones: one row per erased customer, so that later files, replays and backfills drop
-- their rows at ingestion (warehouse/erase.py). Neither the id nor its pseudonym: an HMAC of the id
-- under the pseudonym key (a SHA-256 of it without one), see pseudonyms.py.
CREATE TABLE IF NOT EXISTS privacy.tombstones (
    tombstone VARCHAR NOT NULL,         -- erased(id): 32 hex digits
    erased_at TIMESTAMP NOT NULL,       -- when the erasure was committed (UTC)
    request_id VARCHAR NOT NULL,        -- the erasure request (privacy.erasures)
    PRIMARY KEY (tombstone)
);
