-- Rows of partitions outside $days that could be duplicates of the staged days' rows: the same
-- event_id, or the same user and session (content duplicates share both). Spliced into
-- sql/stage_events.sql as its other_rows when another partition has raw rows.
SELECT e.* FROM raw.events AS e
WHERE NOT list_contains($days, e.partition_date)
  AND (
      e.event_id IN (SELECT event_id FROM current_rows WHERE event_id IS NOT NULL)
      OR EXISTS (
          SELECT 1 FROM (SELECT DISTINCT user_id, session_id FROM current_rows) AS k
          WHERE k.user_id = e.user_id AND k.session_id IS NOT DISTINCT FROM e.session_id
      )
  )
