-- One fingerprint per staged partition up to $as_of (DATE): its events, its first event time and
-- the XOR of its rows' hashes (features/staged_changes.py compares them between two builds).
CREATE OR REPLACE TEMP TABLE staged_fingerprints AS
SELECT
    partition_date,
    count(*) AS events,
    min(event_time) AS first_event_time,
    bit_xor(hash(event_id, event_time, event_type, user_id, session_id, product_id, category, brand, price,
                 quantity, order_id, is_late)) AS fingerprint
FROM staging.events
WHERE partition_date <= $as_of
GROUP BY partition_date
