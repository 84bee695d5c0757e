-- Bronze transactions hold no duplicate rows.
SELECT date, user_id, item_index, price, channel, count(*) AS copies
FROM transactions
GROUP BY ALL
HAVING count(*) > 1;
