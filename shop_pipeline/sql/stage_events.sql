-- Type, validate and deduplicate the raw rows of the partitions in $days, in one pass.
--
-- Every raw row of those partitions comes out exactly once, as one of:
--   clean      reason_code IS NULL and duplicate_kind IS NULL
--   quarantined reason_code names the first rule it breaks, reason says it for a person
--   duplicate  duplicate_kind says why, kept_* points at the occurrence that was kept
-- An event is a duplicate when an earlier valid row has the same event_id, or the same
-- content (time, type, user, session, product, price, quantity, order). "Earlier" is the
-- order of arrival: ingested_at, then partition, file and line. Rows of other partitions
-- take part only when they could be duplicates, and arrival order is a property of the raw
-- data, so the answer does not depend on the order in which partitions are staged, and a
-- day that lands late does not bring back events a later day already published.
--
-- Arrival order is one BIGINT per row (the file's rank among the files in scope, then the
-- line), so "first occurrence" compares integers, not file names; the first occurrence of an
-- event_id or a content hash is found by hash aggregates over the keys that repeat (no sort of
-- the rows). Only quarantined rows keep their text values (raw_record); clean rows keep typed values.
-- The other_rows placeholder is the query of other partitions' rows that may be duplicates (or an empty one
-- when no other partition has rows): sql/stage_events_others.sql.
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
files AS (
    SELECT ingested_at, partition_date, source_file,
           row_number() OVER (ORDER BY ingested_at, partition_date, source_file) AS file_rank
    FROM (SELECT DISTINCT ingested_at, partition_date, source_file FROM scope)
),
typed AS (
    SELECT
        s.*,
        f.file_rank * 4294967296 + s.line AS arrival,
        try_cast(s.event_time AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS event_time_utc,
        -- plain decimal numbers only: a bare cast also takes '1_000', and rounds quantity '1.5' to 2
        CASE WHEN regexp_full_match(s.price, '[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?')
            THEN try_cast(s.price AS DOUBLE) END AS price_value,
        CASE
            WHEN s.quantity IS NULL THEN 1
            WHEN regexp_full_match(s.quantity, '[+]?[0-9]{1,9}(\.0*)?') THEN try_cast(s.quantity AS INTEGER)
        END AS quantity_value,
        CAST(s.partition_date AS TIMESTAMP) AS day_start
    FROM scope AS s
    JOIN files AS f USING (ingested_at, partition_date, source_file)
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
),
keyed AS (
    SELECT
        c.*,
        CASE WHEN c.reason_code IS NULL THEN hash(
            c.event_time_utc, c.event_type, c.user_id, c.session_id, c.product_id, c.price_value, c.quantity_value,
            c.order_id
        ) END AS content_hash
    FROM classified AS c
),
-- Only keys seen more than once can hide a duplicate: two hash aggregates over narrow keys
-- leave small tables, joined to the rows without sorting them.
repeated_ids AS (
    SELECT event_id, min(arrival) AS first_arrival
    FROM keyed WHERE reason_code IS NULL
    GROUP BY event_id HAVING count(*) > 1
),
repeated_content AS (
    SELECT content_hash, min(arrival) AS first_arrival
    FROM keyed WHERE reason_code IS NULL
    GROUP BY content_hash HAVING count(*) > 1
),
valid AS (
    SELECT
        k.*,
        CASE
            WHEN k.arrival > ri.first_arrival THEN 'same_event_id'
            WHEN k.arrival > rc.first_arrival THEN 'same_content'
        END AS duplicate_kind,
        CASE WHEN k.arrival > ri.first_arrival THEN ri.first_arrival ELSE rc.first_arrival END AS kept_arrival
    FROM keyed AS k
    LEFT JOIN repeated_ids AS ri ON ri.event_id = k.event_id
    LEFT JOIN repeated_content AS rc ON rc.content_hash = k.content_hash
    WHERE k.reason_code IS NULL AND k.is_current
)
SELECT
    v.partition_date, v.source_file, v.line, v.event_id, v.event_time_utc AS event_time, v.event_type, v.user_id,
    v.session_id, v.product_id, v.category, v.brand, v.price_value AS price, v.quantity_value AS quantity,
    v.order_id, v.event_time_utc < v.day_start AS is_late, v.ingested_at,
    NULL::VARCHAR AS reason_code, NULL::VARCHAR AS reason, NULL::VARCHAR AS raw_record,
    v.duplicate_kind,
    CASE WHEN v.duplicate_kind IS NOT NULL THEN kept.source_file END AS kept_source_file,
    CASE WHEN v.duplicate_kind IS NOT NULL THEN v.kept_arrival % 4294967296 END AS kept_line
FROM valid AS v
LEFT JOIN files AS kept ON v.duplicate_kind IS NOT NULL AND kept.file_rank = v.kept_arrival // 4294967296
UNION ALL
SELECT
    c.partition_date, c.source_file, c.line, c.event_id, c.event_time_utc, c.event_type, c.user_id,
    c.session_id, c.product_id, c.category, c.brand, c.price_value, c.quantity_value,
    c.order_id, false, c.ingested_at,
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
    END,
    to_json({
        'event_id': c.event_id, 'event_time': c.event_time, 'event_type': c.event_type,
        'user_id': c.user_id, 'session_id': c.session_id, 'product_id': c.product_id,
        'category': c.category, 'brand': c.brand, 'price': c.price, 'quantity': c.quantity,
        'order_id': c.order_id
    })::VARCHAR,
    NULL, NULL, NULL
FROM keyed AS c
WHERE c.reason_code IS NOT NULL AND c.is_current
