#!/usr/bin/env python3
"""An independent reference for W2 (GET /customers/:id/dashboard).

It reads raw rows with psql (no aggregation, no windows, no ordering in SQL)
and applies the rules of docs/workloads.md ("## W2") in Python, then prints
the body the server must send. Used to cross-check the expected files:

    reference.py "<conninfo>" 9041 > /tmp/9041.json
    cmp /tmp/9041.json 13-customer-9041.expected.json

or, for every case of this folder:  reference.py "<conninfo>" --check
"""
import datetime as dt
import glob
import json
import os
import subprocess
import sys
from decimal import Decimal, ROUND_HALF_UP


def rows(conninfo, sql):
    out = subprocess.run(["psql", conninfo, "-AtX", "-F", "\t", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.split("\n") if line != ""]


def ts(epoch_ms):
    t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=epoch_ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (epoch_ms % 1000)


def ms(col):
    return f"(extract(epoch from {col}) * 1000)::bigint"


def dashboard(conninfo, cid):
    cust = rows(conninfo, f"SELECT id, name, email, region, {ms('created_at')} "
                          f"FROM customers WHERE id = {cid}")
    if not cust:
        return 404, {"statusCode": 404, "error": "Not Found",
                     "message": f"customer {cid} not found"}
    c = cust[0]
    as_of = int(rows(conninfo, f"SELECT {ms('as_of')} FROM meta")[0][0])
    orders = [(int(o[0]), int(o[1]), o[2], int(o[3])) for o in rows(conninfo,
              f"SELECT id, {ms('placed_at')}, status, total_cents FROM orders "
              f"WHERE customer_id = {cid}")]
    lines = {}
    if orders:
        for l in rows(conninfo, "SELECT order_id, line_no, product_id, quantity, unit_price_cents "
                      "FROM order_items WHERE order_id IN (%s)" % ",".join(str(o[0]) for o in orders)):
            lines.setdefault(int(l[0]), []).append(tuple(int(x) for x in l[1:]))
    products = {int(p[0]): (p[1], p[2], p[3]) for p in rows(conninfo,
                "SELECT id, sku, name, category FROM products")}
    live = [o for o in orders if o[2] != "cancelled"]

    # monthly spend: the 12 calendar months (UTC) before as_of's month
    a = dt.datetime.fromtimestamp(as_of / 1000, dt.timezone.utc)
    months = []
    y, m = a.year, a.month
    for _ in range(12):
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        months.append((y, m))
    monthly = []
    for (y, m) in reversed(months):
        n = s = 0
        for o in live:
            t = dt.datetime.fromtimestamp(o[1] / 1000, dt.timezone.utc)
            if (t.year, t.month) == (y, m):
                n, s = n + 1, s + o[3]
        monthly.append({"month": "%04d-%02d" % (y, m), "orders": n, "spend_cents": s})

    # top products and categories over every non-cancelled order (all time)
    per_product, per_cat = {}, {}
    for o in live:
        for (_, pid, q, price) in lines.get(o[0], []):
            u, s = per_product.get(pid, (0, 0))
            per_product[pid] = (u + q, s + q * price)
            cat = products[pid][2]
            u, s = per_cat.get(cat, (0, 0))
            per_cat[cat] = (u + q, s + q * price)
    top = sorted(per_product.items(), key=lambda kv: (-kv[1][1], kv[0]))[:10]
    top = [{"product_id": pid, "sku": products[pid][0], "name": products[pid][1],
            "category": products[pid][2], "units": u, "spend_cents": s}
           for pid, (u, s) in top]
    cats = sorted(per_cat.items(), key=lambda kv: (-kv[1][1], kv[0].encode()))
    cats = [{"category": k, "units": u, "spend_cents": s} for k, (u, s) in cats]

    # the 25 most recent orders, cancelled included
    recent = []
    for o in sorted(orders, key=lambda o: (-o[1], -o[0]))[:25]:
        ls = [{"line_no": ln, "product_id": pid, "sku": products[pid][0],
               "name": products[pid][1], "quantity": q, "unit_price_cents": price}
              for (ln, pid, q, price) in sorted(lines.get(o[0], []))]
        recent.append({"id": o[0], "placed_at": ts(o[1]), "status": o[2],
                       "total_cents": o[3], "lines": ls})

    # region benchmark: [as_of - 30 days, as_of), not cancelled
    lo = as_of - 30 * 86400 * 1000
    totals = [int(r[1]) for r in rows(conninfo,
              f"SELECT {ms('o.placed_at')}, o.total_cents, o.status FROM orders o "
              f"JOIN customers c ON c.id = o.customer_id WHERE c.region = '{c[3]}'")
              if r[2] != "cancelled" and lo <= int(r[0]) < as_of]
    avg = 0
    if totals:
        avg = int((Decimal(sum(totals)) / Decimal(len(totals))).quantize(Decimal(1), ROUND_HALF_UP))
    body = {"customer": {"id": int(c[0]), "name": c[1], "email": c[2], "region": c[3],
                         "created_at": ts(int(c[4]))},
            "as_of": ts(as_of), "monthly_spend": monthly, "top_products": top,
            "recent_orders": recent, "spend_by_category": cats,
            "region_benchmark": {"region": c[3], "window_days": 30,
                                 "orders": len(totals), "avg_order_cents": avg}}
    return 200, body


def render(body):
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def main():
    conninfo = sys.argv[1]
    if sys.argv[2] == "--check":
        here = os.path.dirname(os.path.abspath(__file__))
        bad = 0
        for f in sorted(glob.glob(os.path.join(here, "*.expected.json"))):
            cid = int(os.path.basename(f).split(".")[0].split("-")[-1])
            _, body = dashboard(conninfo, cid)
            ok = render(body) == open(f, "rb").read()
            bad += not ok
            print(("ok  " if ok else "FAIL") + " " + os.path.basename(f))
        sys.exit(1 if bad else 0)
    _, body = dashboard(conninfo, int(sys.argv[2]))
    sys.stdout.buffer.write(render(body))


if __name__ == "__main__":
    main()
