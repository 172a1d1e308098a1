-- The pairs of the temp table recommend_source as matrix coordinates (user_index, item_index
-- of recommend_users.sql / recommend_items.sql) with their weight and distinct orders,
-- in row-major order so they load straight into a CSR matrix.
WITH users AS (
    SELECT customer_id, row_number() OVER (ORDER BY customer_id) - 1 AS user_index
    FROM (SELECT DISTINCT customer_id FROM recommend_source)
),
items AS (
    SELECT product_id, row_number() OVER (ORDER BY product_id) - 1 AS item_index
    FROM (SELECT DISTINCT product_id FROM recommend_source)
)
SELECT
    CAST(u.user_index AS INTEGER) AS user_index,
    CAST(i.item_index AS INTEGER) AS item_index,
    CAST(s.weight AS FLOAT) AS weight,
    CAST(s.orders AS INTEGER) AS orders
FROM recommend_source AS s
JOIN users AS u ON u.customer_id = s.customer_id
JOIN items AS i ON i.product_id = s.product_id
ORDER BY user_index, item_index
