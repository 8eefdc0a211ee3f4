-- Every SQL statement of looplab and of the peers (bench/peers/), one named
-- block each. looplab embeds this file at build time; the Node and Go peers
-- read it at start-up. Nothing else holds SQL text.
--
-- The format, which every implementation parses the same way:
--   a block starts at a line `-- name: <name>` and runs to the next such line
--   or the end of the file; its statement is the block's lines minus blank
--   lines and lines that are only a comment, joined with "\n", with one
--   trailing ";" removed. Parameters are $1, $2, ... (sent as text).
--
-- Statements return plain columns; each implementation turns rows into JSON
-- in its own language (docs/workloads.md states the rules). bigint, int and
-- numeric columns are integers; timestamptz columns are instants, formatted
-- by the application as UTC with milliseconds (Date#toISOString); tags is a
-- text[].

-- name: ping
SELECT 1;

-- W1: the /items routes. $4/$5/$6 tags parameters are text[] values.

-- name: item_get
SELECT id, name, description, price_cents, tags, created_at, updated_at
FROM items WHERE id = $1;

-- name: item_insert
INSERT INTO items (name, description, price_cents, tags)
VALUES ($1, $2, $3, $4)
RETURNING id, name, description, price_cents, tags, created_at, updated_at;

-- name: item_replace
UPDATE items SET name = $2, description = $3, price_cents = $4, tags = $5, updated_at = now()
WHERE id = $1
RETURNING id, name, description, price_cents, tags, created_at, updated_at;

-- PATCH: NULL leaves a column as it is, except description, which may be set
-- to NULL: $3 says whether it is being set.
-- name: item_patch
UPDATE items SET name = COALESCE($2, name),
  description = CASE WHEN $3::boolean THEN $4 ELSE description END,
  price_cents = COALESCE($5::bigint, price_cents),
  tags = COALESCE($6::text[], tags),
  updated_at = now()
WHERE id = $1
RETURNING id, name, description, price_cents, tags, created_at, updated_at;

-- name: item_delete
DELETE FROM items WHERE id = $1;

-- The list asks for limit + 1 rows ($2): the extra row says a next page exists.
-- name: item_list
SELECT id, name, description, price_cents, tags, created_at, updated_at
FROM items WHERE id > $1 ORDER BY id LIMIT $2;

-- W2: GET /customers/:id/dashboard. Every window is relative to meta.as_of,
-- never now(); every ORDER BY is total, so all strategies and all
-- implementations produce the same rows.

-- name: dash_customer
SELECT c.id, c.name, c.email, c.region, c.created_at, m.as_of
FROM customers c, meta m WHERE c.id = $1;

-- The 12 full UTC calendar months before as_of's month; month is a date
-- (the first of the month).
-- name: dash_monthly
SELECT mo::date AS month, count(o.id) AS orders, coalesce(sum(o.total_cents), 0) AS spend_cents
FROM meta m CROSS JOIN generate_series(
    date_trunc('month', m.as_of AT TIME ZONE 'UTC') - interval '12 months',
    date_trunc('month', m.as_of AT TIME ZONE 'UTC') - interval '1 month',
    interval '1 month') AS mo
LEFT JOIN orders o ON o.customer_id = $1 AND o.status <> 'cancelled'
  AND o.placed_at >= (mo AT TIME ZONE 'UTC')
  AND o.placed_at < ((mo + interval '1 month') AT TIME ZONE 'UTC')
GROUP BY mo ORDER BY mo;

-- name: dash_top_products
SELECT p.id, p.sku, p.name, p.category, sum(oi.quantity) AS units,
       sum(oi.quantity * oi.unit_price_cents) AS spend
FROM orders o JOIN order_items oi ON oi.order_id = o.id
JOIN products p ON p.id = oi.product_id
WHERE o.customer_id = $1 AND o.status <> 'cancelled'
GROUP BY p.id ORDER BY spend DESC, p.id LIMIT 10;

-- One row per order line, the orders by placed_at desc then id desc.
-- name: dash_recent_orders
WITH recent AS (SELECT id, placed_at, status, total_cents FROM orders
                WHERE customer_id = $1 ORDER BY placed_at DESC, id DESC LIMIT 25)
SELECT r.id, r.placed_at, r.status, r.total_cents, oi.line_no,
       oi.product_id, p.sku, p.name, oi.quantity, oi.unit_price_cents
FROM recent r JOIN order_items oi ON oi.order_id = r.id
JOIN products p ON p.id = oi.product_id
ORDER BY r.placed_at DESC, r.id DESC, oi.line_no;

-- name: dash_categories
SELECT p.category, sum(oi.quantity) AS units, sum(oi.quantity * oi.unit_price_cents) AS spend
FROM orders o JOIN order_items oi ON oi.order_id = o.id
JOIN products p ON p.id = oi.product_id
WHERE o.customer_id = $1 AND o.status <> 'cancelled'
GROUP BY p.category ORDER BY spend DESC, p.category;

-- The region benchmark starts from the 30-day range of orders
-- (orders_placed_idx, partial on status <> 'cancelled', index-only) and hashes
-- the region's customers (customers_region_idx, index-only): about 57 buffers
-- at scale 1, if the visibility map is set (sql/indexes.sql, at its end).
-- name: dash_region
SELECT me.region, r.orders, r.avg_order_cents
FROM customers me CROSS JOIN meta m CROSS JOIN LATERAL (
  SELECT count(*) AS orders, coalesce(round(avg(o.total_cents)), 0)::bigint AS avg_order_cents
  FROM orders o JOIN customers c ON c.id = o.customer_id
  WHERE c.region = me.region AND o.status <> 'cancelled'
    AND o.placed_at >= m.as_of - interval '30 days' AND o.placed_at < m.as_of) r
WHERE me.id = $1;
