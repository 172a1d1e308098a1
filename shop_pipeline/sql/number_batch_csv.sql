-- Data lines of the fast path's records, without renumbering them: the i-th record of a file is
-- data line i + (rejected lines before it). With the file's rejected data lines r_1 < r_2 < ...,
-- record i comes after r_j exactly when r_j - j < i, so its line is i + max{j : r_j - j < i}.
-- In k (numbered across the batch: record i of a file is k = base + i) that is a step function:
-- segments (lo, hi] of k with line = k + offset. Segments of all files are disjoint, so they are
-- filed under buckets of 4096 k's (a segment under every bucket it touches) and a record finds
-- its segment by an equi-join on its bucket: no sort of the records (see native.BATCH_ROWS).
INSERT INTO batch_segments
WITH steps AS (
    SELECT r.file_id, f.base + r.line - r.j AS k_threshold, max(r.j) AS shift
    FROM (
        SELECT file_id, line, row_number() OVER (PARTITION BY file_id ORDER BY line) AS j
        FROM (SELECT DISTINCT file_id, line FROM batch_csv_rejected)
    ) AS r
    JOIN batch_csv_files AS f USING (file_id)
    GROUP BY ALL
),
bounds AS (
    SELECT file_id, base AS lo, 0 AS shift FROM batch_csv_files WHERE list_contains($ids, file_id)
    UNION ALL
    SELECT file_id, k_threshold, shift FROM steps
),
segments AS (
    SELECT b.file_id, b.lo,
           coalesce(lead(b.lo) OVER (PARTITION BY b.file_id ORDER BY b.lo), f.base + f.records) AS hi,
           b.shift - f.base AS line_offset
    FROM bounds AS b JOIN batch_csv_files AS f USING (file_id)
)
SELECT file_id, bucket, lo, hi, line_offset
FROM segments, LATERAL (SELECT unnest(range(CAST(lo // 4096 AS BIGINT), CAST(hi // 4096 + 1 AS BIGINT))) AS bucket)
WHERE hi > lo
