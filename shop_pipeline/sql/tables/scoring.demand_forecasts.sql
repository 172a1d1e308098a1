-- scoring.demand_forecasts: units per product and day for the horizon after the cut-off, with an
-- interval (ml/demand_forecast/score.py), replaced whole by warehouse/scores.py.
CREATE TABLE IF NOT EXISTS scoring.demand_forecasts (
    product_id VARCHAR NOT NULL,        -- a product of features.product_daily_sales
    day DATE NOT NULL,                  -- a day after as_of
    p10 DOUBLE NOT NULL,                -- 10% quantile of the units sold
    p50 DOUBLE NOT NULL,                -- median forecast of the units sold
    p90 DOUBLE NOT NULL,                -- 90% quantile of the units sold
    expected DOUBLE NOT NULL,           -- the units to sum for totals: p50 x the level factor learned on the backtest
    model_version VARCHAR NOT NULL,     -- the ml.model_registry version that forecast it
    as_of DATE NOT NULL,                -- the last day of data the forecast used
    PRIMARY KEY (product_id, day)
);
