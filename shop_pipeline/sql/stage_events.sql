-- Type, validate and deduplicate the raw rows of the partitions in $days.
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
CREATE OR REPLACE TEMP TABLE staged_rows AS
WITH current_rows AS (
    SELECT * FROM raw.events WHERE list_contains($days, partition_date)
),
current_keys AS (
    SELECT DISTINCT event_id, user_id, session_id FROM current_rows
),
other_rows AS (
    SELECT e.* FROM raw.events AS e
    WHERE NOT list_contains($days, e.partition_date)
      AND (
          e.event_id IN (SELECT event_id FROM current_keys WHERE event_id IS NOT NULL)
          OR EXISTS (
              SELECT 1 FROM current_keys AS k
              WHERE k.user_id = e.user_id AND k.session_id IS NOT DISTINCT FROM e.session_id
          )
      )
),
scope AS (
    SELECT *, true AS is_current FROM current_rows
    UNION ALL
    SELECT *, false AS is_current FROM other_rows
),
typed AS (
    SELECT
        s.*,
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
explained AS (
    SELECT
        c.*,
        CASE reason_code
            WHEN 'missing_event_id' THEN 'event_id is empty'
            WHEN 'missing_event_type' THEN 'event_type is empty'
            WHEN 'unknown_event_type' THEN 'event_type ''' || event_type || ''' is not one of '
                || array_to_string($event_types, ', ')
            WHEN 'missing_user_id' THEN 'user_id is empty'
            WHEN 'missing_product_id' THEN 'product_id is empty'
            WHEN 'missing_event_time' THEN 'event_time is empty'
            WHEN 'unparseable_event_time' THEN 'event_time ''' || event_time || ''' is not an ISO-8601 timestamp'
            WHEN 'event_time_in_future' THEN 'event_time ' || strftime(event_time_utc, '%Y-%m-%dT%H:%M:%SZ')
                || ' is after the end of the file''s day ' || CAST(partition_date AS VARCHAR)
            WHEN 'event_time_too_old' THEN 'event_time ' || strftime(event_time_utc, '%Y-%m-%dT%H:%M:%SZ')
                || ' is more than ' || $max_lateness_days || ' days before the file''s day '
                || CAST(partition_date AS VARCHAR)
            WHEN 'missing_price' THEN 'price is empty'
            WHEN 'unparseable_price' THEN 'price ''' || price || ''' is not a number'
            WHEN 'negative_price' THEN 'price ' || price || ' is negative'
            WHEN 'price_out_of_range' THEN 'price ' || price || ' is above the maximum ' || $max_price
            WHEN 'invalid_quantity' THEN 'quantity ''' || coalesce(quantity, '') || ''' is not an integer from 1 to '
                || $max_quantity
            WHEN 'missing_order_id' THEN 'purchase without an order_id'
        END AS reason,
        CASE WHEN reason_code IS NULL THEN hash(
            event_time_utc, event_type, user_id, session_id, product_id, price_value, quantity_value, order_id
        ) END AS content_hash
    FROM classified AS c
),
ranked AS (
    SELECT
        e.*,
        row_number() OVER by_id AS rank_by_id,
        first_value(source_file) OVER by_id AS first_file_by_id,
        first_value(line) OVER by_id AS first_line_by_id,
        row_number() OVER by_content AS rank_by_content,
        first_value(source_file) OVER by_content AS first_file_by_content,
        first_value(line) OVER by_content AS first_line_by_content
    FROM explained AS e
    WHERE reason_code IS NULL
    WINDOW
        by_id AS (PARTITION BY event_id ORDER BY ingested_at, partition_date, source_file, line),
        by_content AS (PARTITION BY content_hash ORDER BY ingested_at, partition_date, source_file, line)
)
SELECT
    e.partition_date, e.source_file, e.line, e.event_id, e.event_time, e.event_type, e.user_id,
    e.session_id, e.product_id, e.category, e.brand, e.price, e.quantity, e.order_id, e.ingested_at,
    e.event_time_utc, e.price_value, e.quantity_value, e.day_start,
    e.reason_code, e.reason,
    CASE
        WHEN r.rank_by_id > 1 THEN 'same_event_id'
        WHEN r.rank_by_content > 1 THEN 'same_content'
    END AS duplicate_kind,
    CASE WHEN r.rank_by_id > 1 THEN r.first_file_by_id ELSE r.first_file_by_content END AS kept_source_file,
    CASE WHEN r.rank_by_id > 1 THEN r.first_line_by_id ELSE r.first_line_by_content END AS kept_line
FROM explained AS e
LEFT JOIN ranked AS r USING (partition_date, source_file, line)
WHERE e.is_current
