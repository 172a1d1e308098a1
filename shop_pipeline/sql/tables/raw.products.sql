-- raw.products: the product catalog (landing/catalog/products.csv), replaced whole by
-- warehouse/catalog.py. Created by every read-write connection.
CREATE TABLE IF NOT EXISTS raw.products (
    product_id VARCHAR PRIMARY KEY,     -- catalog key
    name VARCHAR,                       -- product name
    category VARCHAR,                   -- category the product is listed in
    brand VARCHAR,                      -- brand
    base_price DOUBLE,                  -- list price before promotions
    launched_on DATE                    -- first day on sale
);
