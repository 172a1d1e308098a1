-- ml.drift_references: a champion's drift reference, binned at its first measurement
-- (ml/common/drift_reference.py).
CREATE TABLE IF NOT EXISTS ml.drift_references (
    model_name     VARCHAR   NOT NULL,  -- as in ml.model_registry
    version        VARCHAR   NOT NULL,  -- the champion version the reference belongs to
    bins           INTEGER   NOT NULL,  -- the quantile bins asked for (repeated edges collapse)
    feature        VARCHAR   NOT NULL,  -- as feature_drift names it: customer.recency_days, score.p_purchase ...
    edges          DOUBLE[]  NOT NULL,  -- inner edges of right-closed bins
    shares         DOUBLE[]  NOT NULL,  -- the reference's share in each bin (len(edges) + 1)
    reference_rows BIGINT    NOT NULL,  -- rows the reference was binned from
    binned_at      TIMESTAMP NOT NULL,  -- UTC
    PRIMARY KEY (model_name, version, bins, feature)
);
