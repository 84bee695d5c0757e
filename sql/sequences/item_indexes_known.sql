-- Every item index in a history or target list exists in bronze/items.
WITH used AS (
    SELECT DISTINCT item_index
    FROM (
        SELECT unnest(history) AS item_index FROM examples
        UNION ALL
        SELECT unnest(targets) AS item_index FROM examples
    )
)
SELECT used.item_index
FROM used
LEFT JOIN items ON items.item_index = used.item_index
WHERE items.item_index IS NULL
ORDER BY used.item_index;
