-- Every transaction's item_index exists in bronze/items.
SELECT t.date, t.user_id, t.item_index
FROM transactions AS t
LEFT JOIN items AS i ON i.item_index = t.item_index
WHERE i.item_index IS NULL;
