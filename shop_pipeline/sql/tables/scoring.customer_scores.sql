-- scoring.customer_scores: the propensity champion's score of every customer as of the cut-off
-- (ml/propensity/score.py), replaced whole by warehouse/scores.py.
CREATE TABLE IF NOT EXISTS scoring.customer_scores (
    customer_id VARCHAR NOT NULL PRIMARY KEY,  -- a customer of features.customer_features
    p_purchase DOUBLE NOT NULL,         -- probability of a purchase in the horizon after the cut-off, 0..1
    churn_risk DOUBLE NOT NULL,         -- 1 - p_purchase
    expected_orders DOUBLE NOT NULL,    -- expected orders in the horizon
    expected_spend DOUBLE NOT NULL,     -- expected spend in the horizon
    segment VARCHAR NOT NULL,           -- new | champions | loyal | at_risk | hibernating
    model_version VARCHAR NOT NULL,     -- the ml.model_registry version that scored it
    as_of DATE NOT NULL                 -- the cut-off of the features scored
);
