-- Every example has at least one target, at most $max_targets, and no repeated target.
SELECT user_id, split, target_date, targets
FROM examples
WHERE targets IS NULL
   OR len(targets) = 0
   OR len(targets) > $max_targets
   OR len(list_distinct(targets)) <> len(targets);
