-- ml.model_registry: one row per trained model version: training window, features, parameters,
-- artifact path and its SHA-256, and whether it is the champion (ml/common/registry.py).
CREATE TABLE IF NOT EXISTS ml.model_registry (
    model_name    VARCHAR   NOT NULL,   -- demand_forecast | propensity | recommendation | order_risk
    version       VARCHAR   NOT NULL,   -- YYYYMMDDTHHMMSS-<8 hex of params + data window>
    trained_at    TIMESTAMP NOT NULL,   -- UTC
    train_start   DATE,                 -- first day of data the model learned from
    train_end     DATE,                 -- last day (features and labels) it learned from
    as_of         DATE,                 -- scoring cut-off it was trained for
    features      JSON      NOT NULL,   -- list of feature column names
    parameters    JSON      NOT NULL,   -- hyper-parameters, seed, candidate, horizon ...
    artifact_path VARCHAR   NOT NULL,   -- relative to the shop home's models folder: <model_name>/<version>.skops
    sha256        VARCHAR   NOT NULL,   -- of the artifact file; checked before every load
    is_champion   BOOLEAN   NOT NULL DEFAULT false,  -- the version the scores come from
    promoted_at   TIMESTAMP,            -- UTC, when it last became champion
    notes         VARCHAR,              -- how the version was chosen and the promotion decision, for a person
    training_key  VARCHAR,              -- SHA-256 of what the training read (lifecycle.training_inputs)
    training_inputs JSON,               -- the parts of that key: input fingerprints, settings, code
    reused_at     TIMESTAMP,            -- UTC, when a later run last reused it (inputs unchanged)
    PRIMARY KEY (model_name, version)
);
-- registries written before the training keys existed
ALTER TABLE ml.model_registry ADD COLUMN IF NOT EXISTS training_key VARCHAR;
ALTER TABLE ml.model_registry ADD COLUMN IF NOT EXISTS training_inputs JSON;
ALTER TABLE ml.model_registry ADD COLUMN IF NOT EXISTS reused_at TIMESTAMP;
