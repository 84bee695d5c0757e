-- Item indexes and item ids are unique, and no item takes the padding index 0.
SELECT item_index, item_id, 'index used twice' AS problem
FROM items
WHERE item_index IN (SELECT item_index FROM items GROUP BY item_index HAVING count(*) > 1)
UNION ALL
SELECT item_index, item_id, 'item id registered twice'
FROM items
WHERE item_id IN (SELECT item_id FROM items GROUP BY item_id HAVING count(*) > 1)
UNION ALL
SELECT item_index, item_id, 'index below 1'
FROM items
WHERE item_index < 1;
