-- Give every accepted line its physical line number: the accepted lines come out in file
-- order, so the k-th accepted line is the k-th physical line that DuckDB did not reject.
CREATE OR REPLACE TEMP TABLE landed_numbered AS
WITH rejected AS (
    SELECT DISTINCT line AS physical_line FROM landing_reject_errors
),
kept AS (
    SELECT r.physical_line, row_number() OVER (ORDER BY r.physical_line) AS k
    FROM range(1, $total_lines + 1) AS r(physical_line)
    ANTI JOIN rejected USING (physical_line)
)
SELECT kept.physical_line, rtrim(l.line_text, chr(13)) AS line_text
FROM landed_lines AS l
JOIN kept USING (k)
