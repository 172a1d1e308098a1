-- The earliest event time of the partitions whose fingerprint differs from the one recorded at
-- the last build of $table (new, changed or removed partitions: the time they had or have).
SELECT min(least(c.first_event_time, s.first_event_time))
FROM temp.staged_fingerprints AS c
FULL OUTER JOIN (SELECT * FROM features.built_partitions WHERE table_name = $table) AS s
    ON s.partition_date = c.partition_date
WHERE c.fingerprint IS DISTINCT FROM s.fingerprint OR c.events IS DISTINCT FROM s.events
