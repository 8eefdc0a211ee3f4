-- The deterministic seed (SPEC section 5). Every value is a pure function of
-- a row number through pg_temp.h(n, salt) below, so the same scale gives the
-- same rows, byte for byte, on every machine. No random(), no now(), no dependence on row order.
--
-- The scale S comes from the setting looplab.scale (db_schema_load sets it
-- with set_config for this transaction). Row counts are
-- greatest(1, round(base * S)): customers 10,000, products 2,000,
-- orders 200,000 (1-8 lines each), items 100,000.

-- h(n, salt): 32 well-mixed bits of the row number n, an independent stream
-- per salt. hashint8extended is PostgreSQL's own 64-bit integer hash (the one
-- hash partitioning relies on, so it is stable across versions); it works
-- on the integer's value, not its bytes, so it is the same on every machine.
-- Written as one expression so the planner inlines it.
CREATE FUNCTION pg_temp.h(n bigint, salt int) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT hashint8extended(n, salt) & 4294967295 $$;

CREATE FUNCTION pg_temp.n(base bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT greatest(1, round(base * current_setting('looplab.scale')::numeric))::bigint
$$;

INSERT INTO meta (as_of, scale)
VALUES ('2026-01-01T00:00:00Z', current_setting('looplab.scale')::numeric);

-- Customers: 8 regions; names drawn from lists that include non-ASCII ones.
INSERT INTO customers (id, name, email, region, created_at)
SELECT c,
       (ARRAY['Ada', 'Björn', 'Chloé', 'Dmitri', 'Emma', 'François', 'Grace', 'Hiroshi',
              'Inês', 'José', 'Kwame', 'Léa', 'Łukasz', 'Mei', 'Noah', 'Olivia', 'Priya',
              'Quentin', 'Søren', 'Tomás', 'Uma', 'Văn', 'Wei', 'Xavier', 'Yusuf', 'Zoë',
              'Ørjan', 'Ángel', '美咲', 'Алексей', 'Άννα', 'محمد'])[1 + pg_temp.h(c, 1) % 32]
       || ' ' ||
       (ARRAY['Anderson', 'Brown', 'Castro', 'Dubois', 'Eriksson', 'Fernández', 'García',
              'Hansen', 'Ivanov', 'Jørgensen', 'Kowalski', 'López', 'Müller', 'Nakamura',
              'Okafor', 'Petrović', 'Quinn', 'Rossi', 'Schröder', 'Tanaka', 'Ümit', 'Novák',
              'Wang', 'Yılmaz'])[1 + pg_temp.h(c, 2) % 24],
       'customer' || c || '@example.com',
       (ARRAY['north-america', 'south-america', 'europe-west', 'europe-north', 'africa',
              'middle-east', 'asia', 'oceania'])[1 + pg_temp.h(c, 3) % 8],
       timestamptz '2026-01-01T00:00:00Z' - make_interval(secs => 63072000 + pg_temp.h(c, 4) % 63072000)
FROM generate_series(1, pg_temp.n(10000)) AS c;

-- Products: 12 categories, prices from 1.99 to 500.98 in cents.
INSERT INTO products (id, sku, name, category, price_cents)
SELECT p,
       'SKU-' || lpad(p::text, 6, '0'),
       (ARRAY['Classic', 'Compact', 'Deluxe', 'Eco', 'Ergonomic', 'Mini', 'Pro', 'Rustic',
              'Smart', 'Ultra'])[1 + pg_temp.h(p, 11) % 10]
       || ' ' ||
       (ARRAY['Lamp', 'Chair', 'Kettle', 'Backpack', 'Headphones', 'Notebook', 'Blender',
              'Jacket', 'Watch', 'Mug', 'Speaker', 'Desk', 'Pan', 'Bottle'])[1 + pg_temp.h(p, 12) % 14]
       || ' ' || p,
       (ARRAY['books', 'clothing', 'electronics', 'garden', 'grocery', 'health', 'home',
              'kitchen', 'office', 'outdoors', 'sports', 'toys'])[1 + pg_temp.h(p, 13) % 12],
       199 + pg_temp.h(p, 14) % 50000
FROM generate_series(1, pg_temp.n(2000)) AS p;

-- Order lines first, then the orders with their totals summed from them.
-- Order o has 1 + h(o,21) % 8 lines; line l takes a product and a quantity
-- from hashes of 8*o + l, and the product's price as its unit price.
CREATE TEMP TABLE seed_lines ON COMMIT DROP AS
SELECT o AS order_id, l AS line_no,
       1 + pg_temp.h(8 * o + l, 22) % pg_temp.n(2000) AS product_id,
       (1 + pg_temp.h(8 * o + l, 23) % 5)::int AS quantity
FROM generate_series(1, pg_temp.n(200000)) AS o,
     generate_series(1, 1 + pg_temp.h(o, 21) % 8) AS l;

-- Customers whose id ends in 42 (mod 100) never order, so W2 has customers
-- with an empty dashboard; their draws fall to the customer before them.
INSERT INTO orders (id, customer_id, placed_at, status, total_cents)
SELECT o.o,
       CASE WHEN c % 100 = 42 THEN c - 1 ELSE c END,
       -- Strictly before as_of, spread over the two years before it.
       timestamptz '2026-01-01T00:00:00Z' - make_interval(secs => 1 + pg_temp.h(o.o, 25) % 63072000),
       CASE WHEN s < 5 THEN 'cancelled' WHEN s < 10 THEN 'pending' WHEN s < 25 THEN 'paid'
            WHEN s < 50 THEN 'shipped' ELSE 'delivered' END,
       t.total
FROM (SELECT o, 1 + pg_temp.h(o, 24) % pg_temp.n(10000) AS c, pg_temp.h(o, 26) % 100 AS s
      FROM generate_series(1, pg_temp.n(200000)) AS o) AS o
JOIN (SELECT l.order_id, sum(l.quantity * p.price_cents) AS total
      FROM seed_lines l JOIN products p ON p.id = l.product_id
      GROUP BY l.order_id) AS t ON t.order_id = o.o;

INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents)
SELECT l.order_id, l.line_no, l.product_id, l.quantity, p.price_cents
FROM seed_lines l JOIN products p ON p.id = l.product_id;

-- The W1 CRUD table: a third without a description, 0-3 tags.
INSERT INTO items (id, name, description, price_cents, tags, created_at, updated_at)
SELECT i,
       (ARRAY['Red', 'Green', 'Blue', 'Tiny', 'Huge', 'Shiny', 'Matte', 'Vintage'])[1 + pg_temp.h(i, 31) % 8]
       || ' ' ||
       (ARRAY['widget', 'gadget', 'gizmo', 'doohickey', 'thingamajig', 'sprocket'])[1 + pg_temp.h(i, 32) % 6]
       || ' #' || i,
       CASE WHEN pg_temp.h(i, 33) % 3 = 0 THEN NULL
            ELSE 'Seeded item ' || i || ', batch ' || pg_temp.h(i, 34) % 1000 END,
       pg_temp.h(i, 35) % 100000,
       (ARRAY['new', 'sale', 'popular', 'limited', 'eco', 'gift'])[1:pg_temp.h(i, 36) % 4],
       ts, ts + make_interval(secs => pg_temp.h(i, 38) % 86400)
FROM (SELECT i, timestamptz '2026-01-01T00:00:00Z'
                - make_interval(secs => 86400 + pg_temp.h(i, 37) % 63072000) AS ts
      FROM generate_series(1, pg_temp.n(100000)) AS i) AS s;

-- New items get ids after the seeded ones.
SELECT setval(pg_get_serial_sequence('items', 'id'), (SELECT max(id) FROM items));
