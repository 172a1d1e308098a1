-- raw.promotions: product promotions (landing/marketing/promotions.csv), replaced whole by
-- warehouse/catalog.py. Created by every read-write connection.
CREATE TABLE IF NOT EXISTS raw.promotions (
    product_id VARCHAR NOT NULL,        -- the product on promotion
    start_date DATE NOT NULL,           -- first day of the promotion
    end_date DATE NOT NULL,             -- last day of the promotion (inclusive)
    discount_pct DOUBLE NOT NULL        -- discount off the list price, 0..1
);
