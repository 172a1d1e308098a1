-- The staged days' duplicates: valid rows after the first arrival of their event_id or of their
-- content. Only keys seen more than once can hide a duplicate, so hash aggregates over the narrow
-- integer key columns leave small tables (ids: by their hash first, then by the ids behind the
-- hashes that repeat), and the rows are matched against them without a sort.
-- staged_repeated_ids keeps the event_ids that occur more than once among the valid rows: the
-- only ones that could be left twice among the clean rows (quality/audit.py checks them).
CREATE OR REPLACE TEMP TABLE staged_repeated_ids AS
SELECT event_id, min(arrival) AS first_arrival
FROM staged_rows
WHERE reason_code IS NULL AND id_hash IN (
    SELECT id_hash FROM staged_rows WHERE reason_code IS NULL GROUP BY id_hash HAVING count(*) > 1
)
GROUP BY event_id HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE staged_duplicates_found AS
WITH repeated_content AS (
    SELECT content_hash, min(arrival) AS first_arrival
    FROM staged_rows WHERE reason_code IS NULL
    GROUP BY content_hash HAVING count(*) > 1
),
found AS (
    SELECT s.partition_date, s.source_file, s.line, s.event_id, s.arrival,
           CASE WHEN s.arrival > ri.first_arrival THEN 'same_event_id' ELSE 'same_content' END AS duplicate_kind,
           CASE WHEN s.arrival > ri.first_arrival THEN ri.first_arrival ELSE rc.first_arrival END AS kept_arrival
    FROM staged_rows AS s
    LEFT JOIN staged_repeated_ids AS ri ON ri.event_id = s.event_id
    LEFT JOIN repeated_content AS rc ON rc.content_hash = s.content_hash
    WHERE s.reason_code IS NULL AND s.is_current
      AND (s.arrival > ri.first_arrival OR s.arrival > rc.first_arrival)
)
SELECT d.partition_date, d.source_file, d.line, d.event_id, d.arrival, d.duplicate_kind,
       k.source_file AS kept_source_file, d.kept_arrival % 4294967296 AS kept_line
FROM found AS d
JOIN staged_files AS k ON k.file_rank = d.kept_arrival // 4294967296
