-- A history never contains an item bought on (or after) that example's target day.
SELECT user_id, split, target_date, history_date
FROM (
    SELECT user_id, split, target_date, unnest(history_dates) AS history_date
    FROM examples
)
WHERE history_date >= target_date
ORDER BY user_id, history_date;
