-- Item indexes run 1..N without gaps, so that they can index an embedding table.
SELECT count(*) AS items, max(item_index) AS max_index
FROM items
HAVING count(*) > 0 AND max(item_index) <> count(*);
