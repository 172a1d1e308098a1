-- scoring.recommendations: the top-K products per active customer (ml/recommendation/score.py),
-- replaced whole by warehouse/scores.py.
CREATE TABLE IF NOT EXISTS scoring.recommendations (
    customer_id VARCHAR NOT NULL,       -- the customer
    rank INTEGER NOT NULL,              -- 1 = the first to show
    product_id VARCHAR NOT NULL,        -- the product recommended (in the catalog, not bought yet)
    score DOUBLE NOT NULL,              -- the model's score (higher first)
    reason VARCHAR NOT NULL,            -- similar_items | popular_in_category | popular
    model_version VARCHAR NOT NULL,     -- the ml.model_registry version that chose it
    as_of DATE NOT NULL,                -- the cut-off of the interactions used
    PRIMARY KEY (customer_id, rank)
);
