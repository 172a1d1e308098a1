-- features.customer_labels: what each customer of customer_features did in the label window
-- [cut-off, cut-off + horizon_days), computed by sql/customer_labels.sql (features/tables.py),
-- replaced whole.
CREATE TABLE IF NOT EXISTS features.customer_labels (
    customer_id VARCHAR NOT NULL,       -- a customer of customer_features at the same as_of
    as_of DATE NOT NULL,                -- the last day whose events the features used
    horizon_days INTEGER NOT NULL,      -- length of the label window in days
    purchased BOOLEAN NOT NULL,         -- at least one order in the window
    orders BIGINT NOT NULL,             -- distinct orders in the window
    spend DOUBLE NOT NULL,              -- spend in the window
    PRIMARY KEY (customer_id)
);
