-- privacy.key_fingerprints: which pseudonym key the warehouse's ids were written with, so that
-- ingestion under another key (or none) is refused instead of mixing two kinds of ids
-- (pseudonyms.py, warehouse/ingest.py). Never the key itself.
CREATE TABLE IF NOT EXISTS privacy.key_fingerprints (
    purpose VARCHAR NOT NULL,           -- pseudonym
    fingerprint VARCHAR NOT NULL,       -- 'clear' (ids as landed) or hmac:<16 hex digits>, an HMAC of a fixed text
    recorded_at TIMESTAMP NOT NULL,     -- when the first batch under it was ingested (UTC)
    PRIMARY KEY (purpose)
);
