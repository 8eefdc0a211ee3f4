#!/usr/bin/env node
// An independent implementation of W3 (docs/workloads.md, "W3: POST /transform")
// in plain JavaScript, written from the document, not from the C code. It shares
// no code with looplab and uses different means on purpose: JSON.parse instead
// of a hand-written parser, Date.UTC for the calendar, BigInt for money.
//
//   node reference.js FILE            prints the response body for FILE
//                                     (the output, or the 400 error body)
//   node reference.js --check DIR     for every NN-name.input.json in DIR, compares
//                                     with NN-name.expected.json byte for byte;
//                                     prints "N passed, M failed"; exit 1 if any failed
'use strict';
const fs = require('fs');
const path = require('path');

const LIMITS = { depth: 8, orders: 10000, lines: 100000 };
const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'];
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const MAX_SAFE = 9007199254740991;

class Invalid extends Error {}
const fail = (msg) => { throw new Invalid(msg); };

// ---- before parsing ----

function depthOf(text) {
  let depth = 0, max = 0, inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
function hasLoneSurrogate(v) {
  if (typeof v === 'string') return LONE.test(v);
  if (Array.isArray(v)) return v.some(hasLoneSurrogate);
  if (v && typeof v === 'object')
    return Object.keys(v).some((k) => LONE.test(k) || hasLoneSurrogate(v[k]));
  return false;
}

function parse(bytes) {
  if (bytes.length === 0) fail("Body cannot be empty when content-type is set to 'application/json'");
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    fail('body must be valid UTF-8');
  }
  if (depthOf(text) > LIMITS.depth)
    fail(`body must NOT be nested deeper than ${LIMITS.depth} levels`);
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail('Body is not valid JSON');
  }
  if (hasLoneSurrogate(doc)) fail('Body is not valid JSON');
  return doc;
}

// ---- fields ----

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

function need(o, p, k) {
  if (!has(o, k)) fail(`${p} must have required property '${k}'`);
  return o[k];
}
function intField(o, p, k, lo, hi) {
  const v = need(o, p, k);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    fail(`${p}/${k} must be an integer from ${lo} to ${hi}`);
  return v;
}
function strField(o, p, k) {
  const v = need(o, p, k);
  if (typeof v !== 'string' || v.length === 0) fail(`${p}/${k} must be a non-empty string`);
  return v;
}
// A decimal string as a BigInt scaled by 10^frac.
function decField(o, p, k, intDigits, frac, max, maxText, optional) {
  if (!has(o, k) && optional) return 0n;
  const v = need(o, p, k);
  const re = new RegExp(`^(0|[1-9][0-9]{0,${intDigits - 1}})(?:\\.([0-9]{1,${frac}}))?$`);
  const m = typeof v === 'string' ? re.exec(v) : null;
  const scaled = m ? BigInt(m[1] + (m[2] || '').padEnd(frac, '0')) : null;
  if (scaled === null || scaled > max)
    fail(`${p}/${k} must be a decimal string from 0 to ${maxText} with at most ${frac} decimals`);
  return scaled;
}

function parseTime(s) {
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})$/.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number);
  if (y < 1900 || y > 2999 || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59) return null;
  const dim = new Date(Date.UTC(y, mo, 0)).getUTCDate(); // day 0 of the next month
  if (d < 1 || d > dim) return null;
  let east = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[8].slice(1, 3)), om = Number(m[8].slice(4, 6));
    if (oh > 23 || om > 59) return null;
    east = (m[8][0] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const utc = new Date(0);
  utc.setUTCFullYear(y, mo - 1, d); // Date.UTC maps years 0-99 to 19xx; this does not
  utc.setUTCHours(h, mi, sec, 0);
  return { sec: utc.getTime() / 1000 - east, nsec: Number((m[7] || '').padEnd(9, '0')) };
}

function checkLine(l, p, keep, out) {
  if (!isObj(l)) fail(`${p} must be object`);
  const sku = strField(l, p, 'sku');
  const category = strField(l, p, 'category');
  const qty = intField(l, p, 'quantity', -1000, 1000);
  const price = decField(l, p, 'unit_price', 4, 4, 99999999n, '9999.9999', false);
  const bp = decField(l, p, 'discount_pct', 3, 2, 10000n, '100', true);
  if (!keep || qty <= 0) return;
  const q = BigInt(qty);
  const round = (num, den) => (2n * num + den) / (2n * den);
  const gross = round(q * price, 100n);
  const net = round(q * price * (10000n - bp), 1000000n);
  out.push({ sku, category, qty, gross, net });
}

function checkOrder(o, idx) {
  const p = `body/orders/${idx}`;
  if (!isObj(o)) fail(`${p} must be object`);
  const id = intField(o, p, 'id', 1, MAX_SAFE);
  const c = need(o, p, 'customer');
  const cp = `${p}/customer`;
  if (!isObj(c)) fail(`${cp} must be object`);
  const custId = intField(c, cp, 'id', 1, MAX_SAFE);
  const name = strField(c, cp, 'name');
  if (has(c, 'email') && c.email !== null && typeof c.email !== 'string')
    fail(`${cp}/email must be a string or null`);
  const st = need(o, p, 'status');
  if (!STATUSES.includes(st))
    fail(`${p}/status must be one of pending, paid, shipped, delivered, cancelled`);
  const pa = need(o, p, 'placed_at');
  const at = typeof pa === 'string' ? parseTime(pa) : null;
  if (!at)
    fail(`${p}/placed_at must be an RFC 3339 date-time like 2025-03-01T23:30:00.123+05:30 (year 1900 to 2999)`);
  const lines = need(o, p, 'lines');
  if (!Array.isArray(lines)) fail(`${p}/lines must be array`);
  const kept = [];
  lines.forEach((l, j) => checkLine(l, `${p}/lines/${j}`, st !== 'cancelled', kept));
  const ship = decField(o, p, 'shipping', 5, 2, 9999999n, '99999.99', false);
  const email = typeof c.email === 'string' ? c.email : null;
  const gross = kept.reduce((a, l) => a + l.gross, 0n);
  const net = kept.reduce((a, l) => a + l.net, 0n);
  return { id, idx, custId, name, email, status: st, at, lines: kept, ship, gross, net,
           total: net + ship };
}

// ---- output ----

const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const c100 = (v) => `${v / 100n}.${String(v % 100n).padStart(2, '0')}`;

function isqrt(n) {
  if (n < 2n) return n;
  let x = n, y = (x + 1n) / 2n;
  while (y < x) { x = y; y = (x + n / x) / 2n; }
  return x;
}

function dayInfo(sec) {
  const date = new Date(sec * 1000);
  const wd = (date.getUTCDay() + 6) % 7; // Monday first
  // The ISO week is the week of the Thursday in it; its year is the Thursday's year.
  const thu = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - wd + 3));
  const jan1 = new Date(0);
  jan1.setUTCFullYear(thu.getUTCFullYear(), 0, 1);
  const week = Math.floor((thu - jan1) / 86400000 / 7) + 1;
  return { wd, iso: `${String(thu.getUTCFullYear()).padStart(4, '0')}-W${String(week).padStart(2, '0')}` };
}

function fmtTime(at) {
  const iso = new Date(at.sec * 1000).toISOString(); // always .000Z: sec is whole
  return iso.slice(0, 20) + String(Math.floor(at.nsec / 1e6)).padStart(3, '0') + 'Z';
}

const J = JSON.stringify;

function lineJson(l) {
  return `{"sku":${J(l.sku)},"category":${J(l.category)},"quantity":${l.qty},` +
    `"gross_cents":${l.gross},"discount_cents":${l.gross - l.net},"net_cents":${l.net}}`;
}

function orderJson(o) {
  const { wd, iso } = dayInfo(o.at.sec);
  return `{"id":${o.id},"status":"${o.status}","placed_at":"${fmtTime(o.at)}",` +
    `"weekday":"${WEEKDAYS[wd]}","iso_week":"${iso}","lines":[${o.lines.map(lineJson).join(',')}],` +
    `"gross_cents":${o.gross},"discount_cents":${o.gross - o.net},"subtotal_cents":${o.net},` +
    `"shipping_cents":${o.ship},"total_cents":${o.total}}`;
}

function statsJson(kept) {
  const n = BigInt(kept.length);
  if (n === 0n)
    return '{"mean_cents":null,"stddev_cents":null,"p50_cents":null,"p90_cents":null,"p99_cents":null}';
  const v = kept.map((o) => o.total).sort(cmp);
  const sum = v.reduce((a, x) => a + x, 0n);
  const sq = v.reduce((a, x) => a + x * x, 0n);
  const mean = (2n * 100n * sum + n) / (2n * n);
  const sd = (isqrt((40000n * (n * sq - sum * sum)) / (n * n)) + 1n) / 2n;
  const pct = (p) => {
    const rank = Math.max(1, Math.ceil((p * v.length) / 100));
    return v[rank - 1];
  };
  return `{"mean_cents":${c100(mean)},"stddev_cents":${c100(sd)},"p50_cents":${pct(50)},` +
    `"p90_cents":${pct(90)},"p99_cents":${pct(99)}}`;
}

function transform(doc) {
  if (!isObj(doc)) fail('body must be object');
  const orders = need(doc, 'body', 'orders');
  if (!Array.isArray(orders)) fail('body/orders must be array');
  if (orders.length > LIMITS.orders)
    fail(`body/orders must NOT have more than ${LIMITS.orders} items`);
  const linesIn = orders.reduce((a, o) => a + (isObj(o) && Array.isArray(o.lines) ? o.lines.length : 0), 0);
  if (linesIn > LIMITS.lines)
    fail(`body/orders must NOT have more than ${LIMITS.lines} lines in total`);
  const all = orders.map(checkOrder);
  const cancelled = all.filter((o) => o.status === 'cancelled').length;
  const kept = all.filter((o) => o.status !== 'cancelled' && o.lines.length > 0);
  const empty = all.length - cancelled - kept.length;

  const groups = new Map();
  for (const o of kept) {
    if (!groups.has(o.custId)) groups.set(o.custId, []);
    groups.get(o.custId).push(o);
  }
  const custs = [...groups.entries()].map(([id, list]) => {
    list.sort((a, b) => cmp(a.at.sec, b.at.sec) || cmp(a.at.nsec, b.at.nsec) ||
      cmp(a.id, b.id) || cmp(a.idx, b.idx));
    return { id, list, total: list.reduce((a, o) => a + o.total, 0n) };
  });
  custs.sort((a, b) => cmp(b.total, a.total) || cmp(a.id, b.id));

  const lines = kept.flatMap((o) => o.lines);
  const sum = (arr, f) => arr.reduce((a, x) => a + f(x), 0n);
  const gross = sum(kept, (o) => o.gross), net = sum(kept, (o) => o.net);
  const ship = sum(kept, (o) => o.ship);
  const units = lines.reduce((a, l) => a + l.qty, 0);

  const byDay = WEEKDAYS.map(() => 0n);
  for (const o of kept) byDay[dayInfo(o.at.sec).wd] += o.total;
  const cats = new Map();
  for (const l of lines) {
    const c = cats.get(l.category) || { name: l.category, net: 0n, units: 0, lines: 0 };
    c.net += l.net; c.units += l.qty; c.lines++;
    cats.set(l.category, c);
  }
  const catList = [...cats.values()].sort((a, b) =>
    cmp(b.net, a.net) || Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));

  const custJson = (c) => `{"id":${c.id},"name":${J(c.list[0].name)},"email":${J(c.list[0].email)},` +
    `"order_count":${c.list.length},"total_cents":${c.total},"orders":[${c.list.map(orderJson).join(',')}]}`;
  return `{"counts":{"orders_in":${orders.length},"orders_cancelled":${cancelled},` +
    `"orders_empty":${empty},"orders_out":${kept.length},"lines_in":${linesIn},` +
    `"lines_out":${lines.length},"customers":${custs.length},"units":${units}},` +
    `"totals":{"gross_cents":${gross},"discount_cents":${gross - net},"subtotal_cents":${net},` +
    `"shipping_cents":${ship},"revenue_cents":${net + ship}},` +
    `"order_totals":${statsJson(kept)},` +
    `"revenue_by_weekday":{${WEEKDAYS.map((d, i) => `"${d}":${byDay[i]}`).join(',')}},` +
    `"revenue_by_category":[${catList.map((c) => `{"category":${J(c.name)},"net_cents":${c.net},` +
      `"units":${c.units},"lines":${c.lines}}`).join(',')}],` +
    `"customers":[${custs.map(custJson).join(',')}]}`;
}

// The response body: the output, or Fastify's 400 error shape.
function respond(bytes) {
  try {
    return transform(parse(bytes));
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    return `{"statusCode":400,"error":"Bad Request","message":${J(e.message)}}`;
  }
}

function check(dir) {
  const inputs = fs.readdirSync(dir).filter((f) => f.endsWith('.input.json')).sort();
  let passed = 0, failed = 0;
  for (const f of inputs) {
    const want = fs.readFileSync(path.join(dir, f.replace(/\.input\.json$/, '.expected.json')));
    const got = Buffer.from(respond(fs.readFileSync(path.join(dir, f))));
    if (got.equals(want)) passed++;
    else {
      failed++;
      let i = 0;
      while (i < got.length && got[i] === want[i]) i++;
      console.log(`FAIL ${f}: first difference at byte ${i}: got ...${got.slice(i, i + 80)}... ` +
        `want ...${want.slice(i, i + 80)}...`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0;
}

if (process.argv[2] === '--check') process.exit(check(process.argv[3] || __dirname) ? 0 : 1);
else if (process.argv[2]) process.stdout.write(respond(fs.readFileSync(process.argv[2])));
else {
  console.error('usage: node reference.js FILE | --check DIR');
  process.exit(2);
}
