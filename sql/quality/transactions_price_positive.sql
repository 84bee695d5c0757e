-- A recorded price is finite and greater than 0 (a missing price is allowed).
SELECT date, user_id, item_index, price
FROM transactions
WHERE price IS NOT NULL AND (isnan(price) OR isinf(price) OR price <= 0);
