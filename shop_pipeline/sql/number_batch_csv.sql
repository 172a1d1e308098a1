-- Data lines of the fast path's records, without renumbering them: the i-th record of a file is
-- data line i + (rejected lines before it). With the file's rejected data lines r_1 < r_2 < ...,
-- record i comes after r_j exactly when r_j - j < i, so its line is i + max{j : r_j - j < i}.
-- batch_steps holds, per file, the thresholds r_j - j (shifted by the file's base into k) and
-- j; an ASOF join picks the last threshold below each record (see batch_events).
INSERT INTO batch_steps
SELECT r.file_id, f.base + r.line - r.j AS k_threshold, max(r.j) AS shift
FROM (
    SELECT file_id, line, row_number() OVER (PARTITION BY file_id ORDER BY line) AS j
    FROM (SELECT DISTINCT file_id, line FROM batch_csv_rejected)
) AS r
JOIN batch_csv_files AS f USING (file_id)
GROUP BY ALL
