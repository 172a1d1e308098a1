-- raw.order_labels: chargeback / fraud reports from landing/labels/*.csv, replaced whole from the
-- files present (warehouse/order_labels.py).
CREATE TABLE IF NOT EXISTS raw.order_labels (
    order_id VARCHAR NOT NULL,          -- the order the report is about
    is_fraud BOOLEAN NOT NULL,          -- true: chargeback or confirmed fraud; false: the order was cleared
    reported_on DATE NOT NULL,          -- the day the shop learned it (a model at as_of sees reports up to as_of)
    source_file VARCHAR NOT NULL,       -- relative to $SHOP_PIPELINE_HOME/landing
    line BIGINT NOT NULL                -- physical line in the file (the header is line 1)
);
