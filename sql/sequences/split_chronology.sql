-- No validation or test target date is earlier than a train target date,
-- and no test target date is earlier than a validation target date.
WITH latest AS (
    SELECT split, max(target_date) AS last_date FROM examples GROUP BY split
)
SELECT e.user_id, e.split, e.target_date
FROM examples AS e
WHERE (e.split IN ('val', 'test')
       AND e.target_date < (SELECT last_date FROM latest WHERE split = 'train'))
   OR (e.split = 'test'
       AND e.target_date < (SELECT last_date FROM latest WHERE split = 'val'))
ORDER BY e.target_date, e.user_id;
