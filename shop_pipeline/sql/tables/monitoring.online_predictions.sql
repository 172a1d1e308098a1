-- monitoring.online_predictions: every order-risk and demand answer the API gave, read from its
-- JSON Lines logs exactly once by request id (serving/prediction_log.py).
CREATE TABLE IF NOT EXISTS monitoring.online_predictions (
    request_id    VARCHAR   NOT NULL PRIMARY KEY,  -- unique per answer
    logged_at     TIMESTAMP NOT NULL,   -- UTC, when the answer was sent
    endpoint      VARCHAR   NOT NULL,   -- orders/risk | demand/predict
    model_version VARCHAR   NOT NULL,   -- the ml.model_registry version that answered
    snapshot_id   VARCHAR   NOT NULL,   -- the serving snapshot it answered from
    request       JSON      NOT NULL,   -- the request body
    response      JSON      NOT NULL,   -- the answer
    source_file   VARCHAR   NOT NULL,   -- the log file the line was read from
    ingested_at   TIMESTAMP NOT NULL    -- UTC, when it was read into the warehouse
);
