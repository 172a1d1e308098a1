-- The batch as warehouse/ingest.py audits and publishes it: its file records (batch_files, the
-- layout of raw.ingested_files) and file ids, and views of the batch_* rows (sql/batch_tables.sql)
-- with each file's partition and ingested_at. The two subqueries in braces are filled in by
-- warehouse/ingest.py: sources/native.BATCH_ROWS over the whole batch and over a sample.
-- pseudonym() and redacted() are the connection's TEMP macros (pseudonyms.py): the ids as landed
-- and the rejected line's text without a pseudonym key; with one, the ids' pseudonyms and no text.
CREATE OR REPLACE TEMP TABLE batch_files AS SELECT * FROM raw.ingested_files LIMIT 0;
CREATE OR REPLACE TEMP TABLE batch_file_ids (
    file_id INTEGER, source_file VARCHAR, partition_date DATE, ingested_at TIMESTAMP
);
-- batch_erased: the batch's user ids with a tombstone (erased customers: their rows are dropped,
-- counted per file in batch_files.rows_erased)
CREATE OR REPLACE TEMP TABLE batch_erased (user_id VARCHAR);
CREATE OR REPLACE TEMP VIEW batch_events AS
SELECT i.partition_date, i.source_file, r.line, r.event_id, r.event_time, r.event_type, pseudonym(r.user_id) AS user_id,
       pseudonym(r.session_id) AS session_id,
       r.product_id, r.category, r.brand, r.price, r.quantity, r.order_id, i.ingested_at
FROM ({rows}) AS r JOIN batch_file_ids AS i USING (file_id) ANTI JOIN batch_erased AS x ON x.user_id = r.user_id;
CREATE OR REPLACE TEMP VIEW batch_rejects AS
SELECT i.partition_date, i.source_file, r.line, redacted(r.raw_record) AS raw_record, r.reason_code, r.reason, i.ingested_at
FROM batch_reject_rows AS r JOIN batch_file_ids AS i USING (file_id);
CREATE OR REPLACE TEMP VIEW batch_events_sample AS
SELECT i.partition_date, i.source_file, r.line, r.event_id, r.event_time, r.event_type, pseudonym(r.user_id) AS user_id,
       pseudonym(r.session_id) AS session_id,
       r.product_id, r.category, r.brand, r.price, r.quantity, r.order_id, i.ingested_at
FROM ({sample}) AS r JOIN batch_file_ids AS i USING (file_id) ANTI JOIN batch_erased AS x ON x.user_id = r.user_id;
