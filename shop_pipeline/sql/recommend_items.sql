-- The products of the temp table recommend_source numbered 0.. in product_id order, with
-- their category (one per product in interactions.sql; min() only makes that explicit) and
-- whether they may be recommended (in_catalog).
SELECT
    product_id,
    CAST(row_number() OVER (ORDER BY product_id) - 1 AS INTEGER) AS item_index,
    min(category) AS category,
    bool_and(in_catalog) AS in_catalog
FROM recommend_source
GROUP BY product_id
ORDER BY product_id
