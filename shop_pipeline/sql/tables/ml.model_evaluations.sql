-- ml.model_evaluations: one row per (version, candidate, metric); baselines are candidates too, so
-- a reader sees every comparison behind a promotion decision (ml/common/registry.py).
CREATE TABLE IF NOT EXISTS ml.model_evaluations (
    model_name    VARCHAR   NOT NULL,   -- as in ml.model_registry
    version       VARCHAR   NOT NULL,   -- the registry version this evaluation belongs to
    candidate     VARCHAR   NOT NULL,   -- the model itself, a baseline, or a reference
    metric        VARCHAR   NOT NULL,   -- wape, roc_auc, ndcg_at_10, pr_auc ...
    value         DOUBLE,               -- NULL when undefined (e.g. AUC of a single class)
    window_start  DATE,                 -- held-out window the metric was measured on
    window_end    DATE,                 -- its last day
    evaluated_at  TIMESTAMP NOT NULL    -- UTC
);
