-- raw.order_label_rejects: every line of the label files that is not a label, with its reason
-- (warehouse/order_labels.py), replaced whole with raw.order_labels.
CREATE TABLE IF NOT EXISTS raw.order_label_rejects (
    source_file VARCHAR NOT NULL,       -- relative to $SHOP_PIPELINE_HOME/landing
    line BIGINT NOT NULL,               -- 0: the whole file could not be read
    raw_record VARCHAR,                 -- the line as read
    reason_code VARCHAR NOT NULL,       -- blank_line | malformed_line | bad_header | invalid_is_fraud ...
    reason VARCHAR NOT NULL             -- the same, for a person
);
