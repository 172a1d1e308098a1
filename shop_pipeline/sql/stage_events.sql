-- Type and validate the raw rows of the partitions in $days, in one pass (staged_rows).
--
-- Every raw row of those partitions comes out exactly once (is_current), as one of:
--   clean      reason_code IS NULL, and not in staged_duplicates
--   quarantined reason_code names the first rule it breaks, reason says it for a person
--   duplicate  in staged_duplicates (sql/stage_duplicates.sql): why, and the occurrence kept
-- An event is a duplicate when an earlier valid row has the same event_id, or the same
-- content (time, type, user, session, product, price, quantity, order). "Earlier" is the
-- order of arrival: ingested_at, then partition, file and line. Rows of other partitions
-- take part (is_current = false) only when they could be duplicates, and arrival order is a
-- property of the raw data, so the answer does not depend on the order in which partitions
-- are staged, and a day that lands late does not bring back events a later day already published.
--
-- Arrival order is one BIGINT per row (the file's rank in staged_files, then the line), so
-- "first occurrence" compares integers, not file names. Only quarantined rows keep their text
-- values (raw_record); valid rows keep typed values and the hashes of their id and content.
-- The other_rows placeholder is the query of other partitions' rows that may be duplicates (or
-- an empty one when no other partition has rows): sql/stage_events_others.sql.
CREATE OR REPLACE TEMP TABLE staged_rows AS
WITH current_rows AS (
    SELECT * FROM raw.events WHERE list_contains($days, partition_date)
),
other_rows AS (
    {others}
),
scope AS (
    SELECT *, true AS is_current FROM current_rows
    UNION ALL
    SELECT *, false AS is_current FROM other_rows
),
typed AS (
    SELECT
        s.*,
        f.file_rank * 4294967296 + s.line AS arrival,
        make_timestamp(epoch_us(try_cast(s.event_time AS TIMESTAMPTZ))) AS event_time_utc,
        -- plain decimal numbers only: a bare cast also takes '1_000', and rounds quantity '1.5' to 2
        CASE WHEN regexp_full_match(s.price, '[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?')
            THEN try_cast(s.price AS DOUBLE) END AS price_value,
        CASE
            WHEN s.quantity IS NULL THEN 1
            WHEN regexp_full_match(s.quantity, '[+]?[0-9]{1,9}(\.0*)?') THEN try_cast(s.quantity AS INTEGER)
        END AS quantity_value,
        CAST(s.partition_date AS TIMESTAMP) AS day_start
    FROM scope AS s
    JOIN staged_files AS f USING (ingested_at, partition_date, source_file)
),
classified AS (
    SELECT
        t.*,
        CASE
            WHEN event_id IS NULL THEN 'missing_event_id'
            WHEN event_type IS NULL THEN 'missing_event_type'
            WHEN NOT list_contains($event_types, event_type) THEN 'unknown_event_type'
            WHEN user_id IS NULL THEN 'missing_user_id'
            WHEN product_id IS NULL THEN 'missing_product_id'
            WHEN event_time IS NULL THEN 'missing_event_time'
            WHEN event_time_utc IS NULL THEN 'unparseable_event_time'
            WHEN event_time_utc >= day_start + INTERVAL 1 DAY + to_minutes($future_tolerance_minutes)
                THEN 'event_time_in_future'
            WHEN event_time_utc < day_start - to_days($max_lateness_days) THEN 'event_time_too_old'
            WHEN price IS NULL THEN 'missing_price'
            WHEN price_value IS NULL OR isnan(price_value) OR isinf(price_value) THEN 'unparseable_price'
            WHEN price_value < 0 THEN 'negative_price'
            WHEN price_value > $max_price THEN 'price_out_of_range'
            WHEN quantity_value IS NULL OR quantity_value < 1 OR quantity_value > $max_quantity
                THEN 'invalid_quantity'
            WHEN event_type = 'purchase' AND order_id IS NULL THEN 'missing_order_id'
        END AS reason_code
    FROM typed AS t
)
SELECT
    c.partition_date, c.source_file, c.line, c.event_id,
    CASE WHEN c.reason_code IS NULL THEN c.event_time_utc END AS event_time,
    c.event_type, c.user_id, c.session_id, c.product_id, c.category, c.brand,
    CASE WHEN c.reason_code IS NULL THEN c.price_value END AS price,
    CASE WHEN c.reason_code IS NULL THEN c.quantity_value END AS quantity,
    c.order_id, c.event_time_utc < c.day_start AS is_late, c.ingested_at, c.is_current, c.arrival,
    c.reason_code,
    CASE c.reason_code
        WHEN 'missing_event_id' THEN 'event_id is empty'
        WHEN 'missing_event_type' THEN 'event_type is empty'
        WHEN 'unknown_event_type' THEN 'event_type ''' || c.event_type || ''' is not one of '
            || array_to_string($event_types, ', ')
        WHEN 'missing_user_id' THEN 'user_id is empty'
        WHEN 'missing_product_id' THEN 'product_id is empty'
        WHEN 'missing_event_time' THEN 'event_time is empty'
        WHEN 'unparseable_event_time' THEN 'event_time ''' || c.event_time || ''' is not an ISO-8601 timestamp'
        WHEN 'event_time_in_future' THEN 'event_time ' || strftime(c.event_time_utc, '%Y-%m-%dT%H:%M:%SZ')
            || ' is after the end of the file''s day ' || CAST(c.partition_date AS VARCHAR)
        WHEN 'event_time_too_old' THEN 'event_time ' || strftime(c.event_time_utc, '%Y-%m-%dT%H:%M:%SZ')
            || ' is more than ' || $max_lateness_days || ' days before the file''s day '
            || CAST(c.partition_date AS VARCHAR)
        WHEN 'missing_price' THEN 'price is empty'
        WHEN 'unparseable_price' THEN 'price ''' || c.price || ''' is not a number'
        WHEN 'negative_price' THEN 'price ' || c.price || ' is negative'
        WHEN 'price_out_of_range' THEN 'price ' || c.price || ' is above the maximum ' || $max_price
        WHEN 'invalid_quantity' THEN 'quantity ''' || coalesce(c.quantity, '') || ''' is not an integer from 1 to '
            || $max_quantity
        WHEN 'missing_order_id' THEN 'purchase without an order_id'
    END AS reason,
    CASE WHEN c.reason_code IS NOT NULL THEN to_json({
        'event_id': c.event_id, 'event_time': c.event_time, 'event_type': c.event_type,
        'user_id': c.user_id, 'session_id': c.session_id, 'product_id': c.product_id,
        'category': c.category, 'brand': c.brand, 'price': c.price, 'quantity': c.quantity,
        'order_id': c.order_id
    })::VARCHAR END AS raw_record,
    CASE WHEN c.reason_code IS NULL THEN hash(
        c.event_time_utc, c.event_type, c.user_id, c.session_id, c.product_id, c.price_value, c.quantity_value,
        c.order_id
    ) END AS content_hash,
    CASE WHEN c.reason_code IS NULL THEN hash(c.event_id) END AS id_hash
FROM classified AS c
