-- A history never contains an item bought on (or after) that example's target day
-- (histories are chronological, so their last item's date is their latest).
SELECT user_id, split, target_date, last_history_date
FROM examples
WHERE last_history_date >= target_date
ORDER BY user_id, target_date;
