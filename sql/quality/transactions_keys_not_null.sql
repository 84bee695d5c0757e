-- Bronze transactions have a date, a user and an item.
SELECT date, user_id, item_index
FROM transactions
WHERE date IS NULL OR user_id IS NULL OR user_id = '' OR item_index IS NULL;
