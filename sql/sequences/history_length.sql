-- Every history holds between $min_len and $max_len items.
SELECT user_id, split, target_date, len(history) AS history_length
FROM examples
WHERE len(history) < $min_len OR len(history) > $max_len;
