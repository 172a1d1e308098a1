-- Chargeback labels known by $as_of (DATE): per order, its latest report with
-- reported_on <= $as_of (a later correction replaces an earlier report; on the same day the
-- row of the later file, then the later line, wins). Reports dated after $as_of do not exist
-- yet for a model trained at that cut-off.
SELECT order_id, is_fraud, reported_on
FROM raw.order_labels
WHERE reported_on <= $as_of
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY reported_on DESC, source_file DESC, line DESC) = 1
ORDER BY order_id
