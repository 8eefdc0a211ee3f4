'use strict'

// W3: the "orders export" transform of docs/workloads.md (POST /transform).
// Pure: a Buffer in, { body } or { error } out. Used on the main thread
// (LOOPLAB_TRANSFORM=loop) and by the piscina worker (transform-worker.js).
//
// Money is integers only. Within the validated ranges every per-line product
// (q x p x (10000 - d) < 10^15) and every sum of cents (< 10^14) is a safe
// integer, so plain Numbers are exact there; BigInt is used where they are
// not: the mean (200 x sum) and the sum of squares of the stddev.

const { isUtf8 } = require('node:buffer')

const MAX_DEPTH = 8
const MAX_ORDERS = 10000
const MAX_LINES = 100000
const MAX_ID = Number.MAX_SAFE_INTEGER // 9007199254740991

const STATUSES = new Set(['pending', 'paid', 'shipped', 'delivered', 'cancelled'])
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] // getUTCDay() order

const MSG_UTF8 = 'body must be valid UTF-8'
const MSG_DEPTH = `body must NOT be nested deeper than ${MAX_DEPTH} levels`
const MSG_JSON = 'Body is not valid JSON'
const MSG_OBJECT = 'body must be object'
const MSG_PLACED_AT = 'must be an RFC 3339 date-time like 2025-03-01T23:30:00.123+05:30 (year 1900 to 2999)'

// "<int digits>(.<decimals>)", no sign, no exponent, no leading zero.
const UNIT_PRICE = decimalField(4, 4, 99999999, 'must be a decimal string from 0 to 9999.9999 with at most 4 decimals')
const DISCOUNT = decimalField(3, 2, 10000, 'must be a decimal string from 0 to 100 with at most 2 decimals')
const SHIPPING = decimalField(5, 2, 9999999, 'must be a decimal string from 0 to 99999.99 with at most 2 decimals')

const PLACED_AT_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))$/

class DocumentError extends Error {}

function fail (message) {
  throw new DocumentError(message)
}

function decimalField (intDigits, decimals, max, message) {
  return {
    re: new RegExp(`^(0|[1-9][0-9]{0,${intDigits - 1}})(?:\\.([0-9]{1,${decimals}}))?$`),
    scale: 10 ** decimals,
    decimals,
    max,
    message
  }
}

// The value in 1/10^decimals units, or -1 when the field breaks its rule.
function parseDecimal (field, value) {
  if (typeof value !== 'string') return -1
  const m = field.re.exec(value)
  if (m === null) return -1
  const frac = m[2] === undefined ? 0 : Number(m[2].padEnd(field.decimals, '0'))
  const v = Number(m[1]) * field.scale + frac
  return v > field.max ? -1 : v
}

function isObject (v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isIntegerIn (v, min, max) {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
}

function isNonEmptyString (v) {
  return typeof v === 'string' && v.length > 0
}

// Step 3: the depth on the raw bytes, valid JSON or not.
function depthExceeds (buf, limit) {
  let depth = 0
  let inString = false
  for (let i = 0, n = buf.length; i < n; i++) {
    const c = buf[i]
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the next character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return false
}

// JSON.parse accepts "\ud800" and gives a lone surrogate; the rules refuse it.
// Only called when the text holds an escaped surrogate at all.
function hasLoneSurrogateEscape (text) {
  let inString = false
  let pendingHigh = false // the previous token was an escaped high surrogate
  for (let i = 0, n = text.length; i < n; i++) {
    const c = text.charCodeAt(i)
    if (!inString) {
      if (c === 0x22) inString = true
      continue
    }
    if (c === 0x5c) {
      const e = text.charCodeAt(i + 1)
      if (e === 0x75) { // \uXXXX
        const u = parseInt(text.substr(i + 2, 4), 16)
        i += 5
        if (u >= 0xd800 && u <= 0xdbff) {
          if (pendingHigh) return true
          pendingHigh = true
          continue
        }
        if (u >= 0xdc00 && u <= 0xdfff) {
          if (!pendingHigh) return true
          pendingHigh = false
          continue
        }
      } else {
        i++
      }
    } else if (c === 0x22) {
      inString = false
    }
    if (pendingHigh) return true
  }
  return pendingHigh
}

const ESCAPED_SURROGATE_RE = /\\u[dD][89a-fA-F]/

function parseDocument (buf) {
  if (!isUtf8(buf)) fail(MSG_UTF8)
  if (depthExceeds(buf, MAX_DEPTH)) fail(MSG_DEPTH)
  const text = buf.toString('utf8') // keeps a leading BOM: JSON.parse then refuses it
  let doc
  try {
    doc = JSON.parse(text)
  } catch {
    fail(MSG_JSON)
  }
  if (ESCAPED_SURROGATE_RE.test(text) && hasLoneSurrogateEscape(text)) fail(MSG_JSON)
  return doc
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

function isLeapYear (y) {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
}

// placed_at -> { ms: the instant in whole milliseconds, sec, nanos } or null.
function parsePlacedAt (value) {
  if (typeof value !== 'string') return null
  const m = PLACED_AT_RE.exec(value)
  if (m === null) return null
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const hour = Number(m[4])
  const minute = Number(m[5])
  const second = Number(m[6])
  if (year < 1900 || year > 2999 || month < 1 || month > 12 || day < 1) return null
  const monthDays = month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1]
  if (day > monthDays || hour > 23 || minute > 59 || second > 59) return null
  let offsetSeconds = 0
  if (m[8] !== undefined) {
    const oh = Number(m[9])
    const om = Number(m[10])
    if (oh > 23 || om > 59) return null
    offsetSeconds = (m[8] === '-' ? -1 : 1) * (oh * 3600 + om * 60)
  }
  const fraction = m[7] === undefined ? '' : m[7]
  const sec = Date.UTC(year, month - 1, day, hour, minute, second) / 1000 - offsetSeconds
  const nanos = fraction === '' ? 0 : Number(fraction.padEnd(9, '0'))
  return { sec, nanos, ms: sec * 1000 + Math.trunc(nanos / 1e6) }
}

// ISO 8601 week of a UTC date: the week belongs to the year of its Thursday.
function isoWeek (date) {
  const day = Math.floor(date.getTime() / 86400000) // days since 1970-01-01 (a Thursday)
  const isoDay = ((day + 3) % 7 + 7) % 7 // Mon = 0 ... Sun = 6
  const thursday = new Date((day - isoDay + 3) * 86400000)
  const year = thursday.getUTCFullYear()
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * 86400000)) + 1
  return `${year}-W${week < 10 ? '0' : ''}${week}`
}

// round(a / b) half up, for integers a >= 0, b > 0 (safe integers).
function roundDiv (a, b) {
  const t = 2 * a + b
  const d = 2 * b
  return (t - (t % d)) / d
}

function bigIsqrt (n) {
  if (n < 2n) return n
  let x = BigInt(Math.floor(Math.sqrt(Number(n))))
  while (x * x > n) x--
  while ((x + 1n) * (x + 1n) <= n) x++
  return x
}

function fixed2 (m) { // m: a non-negative BigInt of hundredths
  const frac = m % 100n
  return `${m / 100n}.${frac < 10n ? '0' : ''}${frac}`
}

function compareUtf8 (a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

function requireMember (obj, key, path) {
  const v = obj[key]
  if (v === undefined) fail(`${path} must have required property '${key}'`)
  return v
}

function transformDocument (doc) {
  if (!isObject(doc)) fail(MSG_OBJECT)
  const orders = requireMember(doc, 'orders', 'body')
  if (!Array.isArray(orders)) fail('body/orders must be array')
  if (orders.length > MAX_ORDERS) fail(`body/orders must NOT have more than ${MAX_ORDERS} items`)

  let linesIn = 0
  for (const o of orders) {
    if (isObject(o) && Array.isArray(o.lines)) linesIn += o.lines.length
  }
  if (linesIn > MAX_LINES) fail(`body/orders must NOT have more than ${MAX_LINES} lines in total`)

  let ordersCancelled = 0
  let ordersEmpty = 0
  let linesOut = 0
  let units = 0
  let gross = 0
  let discount = 0
  let subtotal = 0
  let shipping = 0
  const byWeekday = [0, 0, 0, 0, 0, 0, 0] // Sun ... Sat
  const categories = new Map()
  const customers = new Map()
  const kept = [] // total_cents of each kept order

  for (let i = 0; i < orders.length; i++) {
    const order = orders[i]
    const p = `body/orders/${i}`
    if (!isObject(order)) fail(`${p} must be object`)

    const id = requireMember(order, 'id', p)
    if (!isIntegerIn(id, 1, MAX_ID)) fail(`${p}/id must be an integer from 1 to ${MAX_ID}`)

    const customer = requireMember(order, 'customer', p)
    const cp = `${p}/customer`
    if (!isObject(customer)) fail(`${cp} must be object`)
    const customerId = requireMember(customer, 'id', cp)
    if (!isIntegerIn(customerId, 1, MAX_ID)) fail(`${cp}/id must be an integer from 1 to ${MAX_ID}`)
    const name = requireMember(customer, 'name', cp)
    if (!isNonEmptyString(name)) fail(`${cp}/name must be a non-empty string`)
    const email = customer.email
    if (email !== undefined && email !== null && typeof email !== 'string') {
      fail(`${cp}/email must be a string or null`)
    }

    const status = requireMember(order, 'status', p)
    if (typeof status !== 'string' || !STATUSES.has(status)) {
      fail(`${p}/status must be one of pending, paid, shipped, delivered, cancelled`)
    }

    const placed = parsePlacedAt(requireMember(order, 'placed_at', p))
    if (placed === null) fail(`${p}/placed_at ${MSG_PLACED_AT}`)

    const lines = requireMember(order, 'lines', p)
    if (!Array.isArray(lines)) fail(`${p}/lines must be array`)
    const cancelled = status === 'cancelled'
    const outLines = []
    let oGross = 0
    let oDiscount = 0
    let oNet = 0
    for (let j = 0; j < lines.length; j++) {
      const line = lines[j]
      const lp = `${p}/lines/${j}`
      if (!isObject(line)) fail(`${lp} must be object`)
      const sku = requireMember(line, 'sku', lp)
      if (!isNonEmptyString(sku)) fail(`${lp}/sku must be a non-empty string`)
      const category = requireMember(line, 'category', lp)
      if (!isNonEmptyString(category)) fail(`${lp}/category must be a non-empty string`)
      const q = requireMember(line, 'quantity', lp)
      if (!isIntegerIn(q, -1000, 1000)) fail(`${lp}/quantity must be an integer from -1000 to 1000`)
      const price = parseDecimal(UNIT_PRICE, requireMember(line, 'unit_price', lp))
      if (price < 0) fail(`${lp}/unit_price ${UNIT_PRICE.message}`)
      let d = 0
      if (line.discount_pct !== undefined) {
        d = parseDecimal(DISCOUNT, line.discount_pct)
        if (d < 0) fail(`${lp}/discount_pct ${DISCOUNT.message}`)
      }
      if (cancelled || q <= 0) continue

      const qp = q * price // 1/10000 units
      const lineGross = roundDiv(qp, 100)
      const lineNet = roundDiv(qp * (10000 - d), 1000000)
      const lineDiscount = lineGross - lineNet
      oGross += lineGross
      oDiscount += lineDiscount
      oNet += lineNet
      units += q
      outLines.push({
        sku,
        category,
        quantity: q,
        gross_cents: lineGross,
        discount_cents: lineDiscount,
        net_cents: lineNet
      })
      const c = categories.get(category)
      if (c === undefined) {
        categories.set(category, { category, net_cents: lineNet, units: q, lines: 1 })
      } else {
        c.net_cents += lineNet
        c.units += q
        c.lines++
      }
    }

    const shippingCents = parseDecimal(SHIPPING, requireMember(order, 'shipping', p))
    if (shippingCents < 0) fail(`${p}/shipping ${SHIPPING.message}`)

    if (cancelled) {
      ordersCancelled++
      continue
    }
    if (outLines.length === 0) {
      ordersEmpty++
      continue
    }

    const total = oNet + shippingCents
    const when = new Date(placed.ms)
    const weekday = when.getUTCDay()
    linesOut += outLines.length
    gross += oGross
    discount += oDiscount
    subtotal += oNet
    shipping += shippingCents
    byWeekday[weekday] += total
    kept.push(total)

    let group = customers.get(customerId)
    if (group === undefined) {
      group = { id: customerId, total: 0, orders: [] }
      customers.set(customerId, group)
    }
    group.total += total
    group.orders.push({
      sec: placed.sec,
      nanos: placed.nanos,
      pos: i,
      name,
      email: typeof email === 'string' ? email : null,
      out: {
        id,
        status,
        placed_at: when.toISOString(),
        weekday: WEEKDAYS[weekday],
        iso_week: isoWeek(when),
        lines: outLines,
        gross_cents: oGross,
        discount_cents: oDiscount,
        subtotal_cents: oNet,
        shipping_cents: shippingCents,
        total_cents: total
      }
    })
  }

  const byInstant = (a, b) => (a.sec - b.sec) || (a.nanos - b.nanos) || (a.out.id - b.out.id) || (a.pos - b.pos)
  const groups = [...customers.values()].sort((a, b) => (b.total - a.total) || (a.id - b.id))
  const outCustomers = groups.map(g => {
    g.orders.sort(byInstant)
    const first = g.orders[0]
    return {
      id: g.id,
      name: first.name,
      email: first.email,
      order_count: g.orders.length,
      total_cents: g.total,
      orders: g.orders.map(o => o.out)
    }
  })

  const outCategories = [...categories.values()].sort((a, b) =>
    (b.net_cents - a.net_cents) || compareUtf8(a.category, b.category))

  const n = kept.length
  let orderTotals
  if (n === 0) {
    orderTotals = '{"mean_cents":null,"stddev_cents":null,"p50_cents":null,"p90_cents":null,"p99_cents":null}'
  } else {
    const bn = BigInt(n)
    let sum = 0n
    let sumSq = 0n
    for (const x of kept) {
      const bx = BigInt(x)
      sum += bx
      sumSq += bx * bx
    }
    const mean = (200n * sum + bn) / (2n * bn)
    const spread = bn * sumSq - sum * sum
    const stddev = (bigIsqrt((40000n * spread) / (bn * bn)) + 1n) / 2n
    const sorted = Float64Array.from(kept).sort()
    const rank = pct => sorted[Math.max(1, Math.ceil((pct * n) / 100)) - 1]
    orderTotals = `{"mean_cents":${fixed2(mean)},"stddev_cents":${fixed2(stddev)},` +
      `"p50_cents":${rank(50)},"p90_cents":${rank(90)},"p99_cents":${rank(99)}}`
  }

  const counts = {
    orders_in: orders.length,
    orders_cancelled: ordersCancelled,
    orders_empty: ordersEmpty,
    orders_out: n,
    lines_in: linesIn,
    lines_out: linesOut,
    customers: outCustomers.length,
    units
  }
  const totals = {
    gross_cents: gross,
    discount_cents: discount,
    subtotal_cents: subtotal,
    shipping_cents: shipping,
    revenue_cents: subtotal + shipping
  }
  const weekdays = {
    Mon: byWeekday[1],
    Tue: byWeekday[2],
    Wed: byWeekday[3],
    Thu: byWeekday[4],
    Fri: byWeekday[5],
    Sat: byWeekday[6],
    Sun: byWeekday[0]
  }
  // JSON.stringify everywhere except the two fixed-point statistics, which
  // always carry two decimals (JSON.stringify(2000.00) would print 2000).
  return '{"counts":' + JSON.stringify(counts) +
    ',"totals":' + JSON.stringify(totals) +
    ',"order_totals":' + orderTotals +
    ',"revenue_by_weekday":' + JSON.stringify(weekdays) +
    ',"revenue_by_category":' + JSON.stringify(outCategories) +
    ',"customers":' + JSON.stringify(outCustomers) + '}'
}

// buf: the request body (non-empty; the empty body is refused by the HTTP
// layer). Returns { body } (the JSON text) or { error } (a 400 message).
function transform (buf) {
  try {
    return { body: transformDocument(parseDocument(buf)) }
  } catch (err) {
    if (err instanceof DocumentError) return { error: err.message }
    throw err
  }
}

module.exports = { transform, hasLoneSurrogateEscape, ESCAPED_SURROGATE_RE, MSG_OBJECT }
