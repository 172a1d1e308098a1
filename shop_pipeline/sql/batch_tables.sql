-- The temp tables a batch of landed files is read into (sources/native.py).
--   batch_csv       fast-path records, numbered k in file order across the batch
--   batch_csv_files per fast-path file: base (k of its first record - 1) and its records
--   batch_segments  ranges (lo, hi] of k whose data line is k + line_offset, by bucket of k
--                   (sql/number_batch_csv.sql)
--   batch_lined     rows that already know their data line (line-by-line path, JSON Lines,
--                   Parquet, re-parsed quoted lines), values trimmed
--   batch_reject_rows  lines that are no row, with a readable reason
CREATE OR REPLACE TEMP TABLE batch_csv (
    k BIGINT, file_id INTEGER, event_id VARCHAR, event_time VARCHAR, event_type VARCHAR, user_id VARCHAR,
    session_id VARCHAR, product_id VARCHAR, category VARCHAR, brand VARCHAR, price VARCHAR, quantity VARCHAR,
    order_id VARCHAR
);
CREATE OR REPLACE TEMP TABLE batch_csv_files (file_id INTEGER, base BIGINT, records BIGINT);
CREATE OR REPLACE TEMP TABLE batch_segments (
    file_id INTEGER, bucket BIGINT, lo BIGINT, hi BIGINT, line_offset BIGINT
);
CREATE OR REPLACE TEMP TABLE batch_lined (
    file_id INTEGER, line BIGINT, event_id VARCHAR, event_time VARCHAR, event_type VARCHAR, user_id VARCHAR,
    session_id VARCHAR, product_id VARCHAR, category VARCHAR, brand VARCHAR, price VARCHAR, quantity VARCHAR,
    order_id VARCHAR
);
CREATE OR REPLACE TEMP TABLE batch_reject_rows (
    file_id INTEGER, line BIGINT, raw_record VARCHAR, reason_code VARCHAR, reason VARCHAR
);
