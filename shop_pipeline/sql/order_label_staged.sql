-- order_label_staged: every data line of the label files being loaded (warehouse/order_labels.py),
-- a label (reason_code NULL) or a reject; published to raw.order_labels / raw.order_label_rejects.
CREATE OR REPLACE TEMP TABLE order_label_staged (
    source_file VARCHAR NOT NULL,
    line BIGINT NOT NULL,
    raw_record VARCHAR,
    order_id VARCHAR,
    is_fraud BOOLEAN,
    reported_on DATE,
    reason_code VARCHAR,
    reason VARCHAR
)
