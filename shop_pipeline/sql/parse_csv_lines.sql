-- Split CSV lines into fields. Lines without a quote split on commas (the fast path);
-- quoted lines go through the csv module (parse_quoted_csv_line), which returns NULL for
-- an unterminated quote. Header order is given by $positions (canonical name -> 1-based index).
CREATE OR REPLACE TEMP TABLE landed_split AS
SELECT
    physical_line - 1 AS line,
    line_text,
    CASE
        WHEN line_text IS NULL OR trim(line_text) = '' THEN NULL
        WHEN strpos(line_text, '"') = 0 THEN string_split(line_text, ',')
        ELSE parse_quoted_csv_line(line_text)
    END AS fields
FROM landed_numbered
WHERE physical_line > 1
