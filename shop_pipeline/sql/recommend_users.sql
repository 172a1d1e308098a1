-- The customers of the temp table recommend_source (a copy of features.interactions or of
-- interactions.sql at another as_of), numbered 0.. in customer_id order, with the time of
-- their last interaction (for "active customer" and as the matrix row index).
SELECT
    customer_id,
    CAST(row_number() OVER (ORDER BY customer_id) - 1 AS INTEGER) AS user_index,
    max(last_interaction) AS last_interaction
FROM recommend_source
GROUP BY customer_id
ORDER BY customer_id
