-- The toy fifth model's scores (shop_pipeline_tests/ml/toy_model/): one row per customer.
CREATE TABLE IF NOT EXISTS scoring.toy_basket_values (
    customer_id VARCHAR NOT NULL PRIMARY KEY,  -- a customer of features.customer_features
    expected_order_value DOUBLE NOT NULL,      -- the value of their next order
    model_version VARCHAR NOT NULL,            -- the ml.model_registry version that scored it
    as_of DATE NOT NULL                        -- the cut-off of the features scored
);
