-- scoring.order_risk_scores: the order-risk champion's score of every order of
-- features.order_features (ml/order_risk/score.py), replaced whole by warehouse/scores.py.
CREATE TABLE IF NOT EXISTS scoring.order_risk_scores (
    order_id VARCHAR NOT NULL,          -- the order
    customer_id VARCHAR NOT NULL,       -- its buyer
    order_time TIMESTAMP NOT NULL,      -- UTC
    risk_score DOUBLE NOT NULL,         -- higher is riskier
    flagged BOOLEAN NOT NULL,           -- above the threshold the alert budget sets: review it
    top_features VARCHAR,               -- the three features that raise the score most; NULL when not flagged
    model_version VARCHAR NOT NULL,     -- the ml.model_registry version that scored it
    features_hash UBIGINT NOT NULL,     -- fingerprint of the inputs the score came from
    as_of DATE NOT NULL,                -- the cut-off of the features scored
    PRIMARY KEY (customer_id, order_id)
);
