-- The batch as warehouse/ingest.py audits and publishes it: its file records (batch_files, the
-- layout of raw.ingested_files) and file ids, and views of the batch_* rows (sql/batch_tables.sql)
-- with each file's partition and ingested_at. The two subqueries in braces are filled in by
-- warehouse/ingest.py: sources/native.BATCH_ROWS over the whole batch and over a sample.
-- With a pseudonym key (pseudonyms.py; pseudonym_key() is not 'clear') the ids are their pseudonyms,
-- looked up in batch_pseudonyms (each distinct id of the batch hashed once, by warehouse/ingest.py),
-- and a rejected line keeps no text (redacted()); without one, the ids and text as landed.
CREATE OR REPLACE TEMP TABLE batch_files AS SELECT * FROM raw.ingested_files LIMIT 0;
CREATE OR REPLACE TEMP TABLE batch_file_ids (
    file_id INTEGER, source_file VARCHAR, partition_date DATE, ingested_at TIMESTAMP
);
-- batch_erased: the batch's user ids with a tombstone (erased customers: their rows are dropped,
-- counted per file in batch_files.rows_erased)
CREATE OR REPLACE TEMP TABLE batch_erased (user_id VARCHAR);
CREATE OR REPLACE TEMP TABLE batch_pseudonyms (clear VARCHAR, pseudonym VARCHAR);
-- batch_retention: at most one row, the latest retention cut-off applied (privacy.retention_purges):
-- rows of a file dated before it, or whose event_time is before it, are dropped (warehouse/expire.py),
-- counted per file in batch_files.rows_erased; lines that are no row, by the file's day only
CREATE OR REPLACE TEMP TABLE batch_retention (cutoff DATE);
-- batch_lookup: the batch's new customers for the re-identification lookup (reidentify.customers),
-- their ids sealed in Python (pseudonyms.py); empty without a pseudonym key
CREATE OR REPLACE TEMP TABLE batch_lookup (customer_id VARCHAR, sealed_id BLOB, added_at TIMESTAMP);
-- a copy recorded as duplicate_file that keeps the rows of its replaced original (warehouse/ingest.py)
CREATE OR REPLACE TEMP TABLE batch_promotions (
    original_path VARCHAR, original_date DATE, path VARCHAR, partition_date DATE
);
CREATE OR REPLACE TEMP VIEW batch_events AS
SELECT i.partition_date, i.source_file, r.line, r.event_id, r.event_time, r.event_type, CASE WHEN pseudonym_key() = 'clear' THEN r.user_id ELSE pu.pseudonym END AS user_id,
       CASE WHEN pseudonym_key() = 'clear' THEN r.session_id ELSE ps.pseudonym END AS session_id,
       r.product_id, r.category, r.brand, r.price, r.quantity, r.order_id, i.ingested_at
FROM ({rows}) AS r JOIN batch_file_ids AS i USING (file_id) ANTI JOIN batch_erased AS x ON x.user_id = r.user_id
LEFT JOIN batch_pseudonyms AS pu ON pu.clear = r.user_id LEFT JOIN batch_pseudonyms AS ps ON ps.clear = r.session_id
WHERE NOT EXISTS (SELECT 1 FROM batch_retention AS w WHERE i.partition_date < w.cutoff
                  OR make_timestamp(epoch_us(try_cast(r.event_time AS TIMESTAMPTZ))) < w.cutoff);
CREATE OR REPLACE TEMP VIEW batch_rejects AS
SELECT i.partition_date, i.source_file, r.line, redacted(r.raw_record) AS raw_record, r.reason_code, r.reason, i.ingested_at
FROM batch_reject_rows AS r JOIN batch_file_ids AS i USING (file_id)
WHERE NOT EXISTS (SELECT 1 FROM batch_retention AS w WHERE i.partition_date < w.cutoff);
CREATE OR REPLACE TEMP VIEW batch_events_sample AS
SELECT i.partition_date, i.source_file, r.line, r.event_id, r.event_time, r.event_type, CASE WHEN pseudonym_key() = 'clear' THEN r.user_id ELSE pu.pseudonym END AS user_id,
       CASE WHEN pseudonym_key() = 'clear' THEN r.session_id ELSE ps.pseudonym END AS session_id,
       r.product_id, r.category, r.brand, r.price, r.quantity, r.order_id, i.ingested_at
FROM ({sample}) AS r JOIN batch_file_ids AS i USING (file_id) ANTI JOIN batch_erased AS x ON x.user_id = r.user_id
LEFT JOIN batch_pseudonyms AS pu ON pu.clear = r.user_id LEFT JOIN batch_pseudonyms AS ps ON ps.clear = r.session_id
WHERE NOT EXISTS (SELECT 1 FROM batch_retention AS w WHERE i.partition_date < w.cutoff
                  OR make_timestamp(epoch_us(try_cast(r.event_time AS TIMESTAMPTZ))) < w.cutoff);
