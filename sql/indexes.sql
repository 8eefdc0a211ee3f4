-- Secondary indexes and foreign keys, created by db_schema_load after
-- seed.sql: building an index or validating a key once over the loaded rows
-- is several times faster than doing it row by row during the seed.

ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE order_items ADD FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE;
ALTER TABLE order_items ADD FOREIGN KEY (product_id) REFERENCES products (id);

-- W2: a customer's orders, newest first (monthly spend, the 25 most recent
-- orders, top products and spend by category all start here). The key is the
-- recent-orders order (placed_at desc, id desc), so its LIMIT 25 stops early,
-- and the INCLUDE columns make every one of the four an index-only scan of
-- orders (no heap page per order).
CREATE INDEX orders_customer_placed_idx ON orders (customer_id, placed_at DESC, id DESC)
  INCLUDE (status, total_cents);
-- W2 region benchmark: the orders of the last 30 days before as_of (an
-- index-only range scan), hash-joined to the region's customers, whose ids
-- come from customers_region_idx alone (index-only too). Partial on the
-- statement's own `status <> 'cancelled'`: the scan skips the cancelled 5 %
-- without reading and filtering them, and the index is smaller (it was
-- INCLUDE (customer_id, total_cents, status) over every order; the partial
-- one makes dash_region 1.70 -> 1.35 ms, docs/results.md).
CREATE INDEX orders_placed_idx ON orders (placed_at) INCLUDE (customer_id, total_cents)
  WHERE status <> 'cancelled';
CREATE INDEX customers_region_idx ON customers (region, id);
-- Foreign-key side of order_items -> products (product pages, deletes).
CREATE INDEX order_items_product_idx ON order_items (product_id);

-- The W2 plans above are index-only scans: they read the heap for every page
-- the visibility map does not mark all-visible. The VACUUM that follows the
-- seed sets the map, but PostgreSQL marks a page all-visible only once its
-- rows' commit is flushed to the WAL (no hint bit before that). Under
-- synchronous_commit = off (looplab-testpg's throwaway clusters, so every
-- benchmark and test database) the seed's commit was not yet flushed when the
-- first tables were vacuumed: meta, items, customers and orders were left
-- unmarked, and dash_region became a bitmap heap scan of all 1,771 pages of
-- orders (3.6 ms a dashboard instead of 1.7; docs/results.md, "W2 statements:
-- EXPLAIN before and after"). So the seed's own commit waits for its flush.
SET LOCAL synchronous_commit = on;
