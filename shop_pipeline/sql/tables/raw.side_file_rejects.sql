-- raw.side_file_rejects: lines of the side files (catalog, ad spend, promotions) that were set
-- aside, with the reason (warehouse/catalog.py). Created before each side file is loaded.
CREATE TABLE IF NOT EXISTS raw.side_file_rejects (
    file VARCHAR NOT NULL,              -- the side file, relative to the landing folder (catalog/products.csv ...)
    line BIGINT NOT NULL,               -- physical line in the file (the header is line 1)
    reason VARCHAR NOT NULL,            -- why the line was set aside, for a person
    raw_record VARCHAR                  -- the line's fields joined by commas
);
