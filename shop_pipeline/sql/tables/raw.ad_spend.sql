-- raw.ad_spend: daily ad spend per category (landing/marketing/ad_spend.csv), replaced whole by
-- warehouse/catalog.py; days past the events are the shop's plan. Created by every read-write connection.
CREATE TABLE IF NOT EXISTS raw.ad_spend (
    date DATE NOT NULL,                 -- the day of the spend
    category VARCHAR NOT NULL,          -- the category advertised
    ad_spend DOUBLE NOT NULL            -- money spent that day on the category
);
