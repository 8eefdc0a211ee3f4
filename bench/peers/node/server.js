'use strict'

// The Node.js peer of looplab: Fastify 5 + postgres 3 (postgres.js) on Node 20.
//
//   node server.js             one process
//   node server.js --cluster   node:cluster, WORKERS processes
//
// Routes, bodies and errors follow docs/workloads.md; the settings and the
// behaviour follow the peer contract (README.md beside this file).

const cluster = require('node:cluster')
const fs = require('node:fs')
const path = require('node:path')
const { isUtf8 } = require('node:buffer')
const { errorCodes: { FST_ERR_CTP_EMPTY_JSON_BODY } } = require('fastify')
const { hasLoneSurrogateEscape, ESCAPED_SURROGATE_RE } = require('./transform')

// ---------------------------------------------------------------------------
// The statements: sql/queries.sql, parsed with the rule written at its top.

const STATEMENT_NAMES = [
  'ping', 'item_get', 'item_insert', 'item_replace', 'item_patch', 'item_delete', 'item_list',
  'dash_customer', 'dash_monthly', 'dash_top_products', 'dash_recent_orders', 'dash_categories',
  'dash_region'
]

function parseQueries (text) {
  const statements = {}
  let name = null
  let lines = []
  const flush = () => {
    if (name === null) return
    statements[name] = lines.join('\n').replace(/;$/, '')
  }
  for (const line of text.split('\n')) {
    const m = /^-- name: (\S+)\s*$/.exec(line)
    if (m !== null) {
      flush()
      name = m[1]
      lines = []
    } else if (name !== null && line.trim() !== '' && !line.trimStart().startsWith('--')) {
      lines.push(line)
    }
  }
  flush()
  return statements
}

function loadQueries () {
  const file = process.env.LOOPLAB_QUERIES_FILE ||
    path.resolve(__dirname, '..', '..', '..', 'sql', 'queries.sql')
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    die(`cannot read the statements file ${file}: ${err.message}`, 1)
  }
  const statements = parseQueries(text)
  const have = Object.keys(statements)
  const missing = STATEMENT_NAMES.filter(n => !have.includes(n))
  const extra = have.filter(n => !STATEMENT_NAMES.includes(n))
  if (missing.length || extra.length) {
    die(`${file}: statements differ from the ones the server uses: missing [${missing.join(', ')}], extra [${extra.join(', ')}]`, 1)
  }
  return statements
}

// ---------------------------------------------------------------------------
// Settings

const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }

function die (message, code) {
  process.stderr.write(message + '\n')
  process.exit(code)
}

function readSettings (env, argv) {
  const args = argv.slice(2)
  for (const a of args) {
    if (a !== '--cluster') die(`unknown argument ${a} (usage: node server.js [--cluster])`, 2)
  }
  const int = (name, def, min, max) => {
    const v = env[name]
    if (v === undefined || v === '') return def
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) {
      die(`${name}=${v}: must be an integer from ${min} to ${max}`, 2)
    }
    return Number(v)
  }
  const oneOf = (name, def, values) => {
    const v = env[name]
    if (v === undefined || v === '') return def
    if (!values.includes(v)) die(`${name}=${v}: must be one of ${values.join(', ')}`, 2)
    return v
  }
  const settings = {
    cluster: args.includes('--cluster'),
    host: env.HOST || '127.0.0.1',
    port: int('PORT', 8080, 0, 65535),
    databaseUrl: env.DATABASE_URL,
    poolSize: int('PG_POOL_SIZE', 8, 1, 10000),
    queries: oneOf('LOOPLAB_QUERIES', 'parallel', ['sequential', 'parallel', 'pipeline']),
    transform: oneOf('LOOPLAB_TRANSFORM', 'loop', ['loop', 'pool']),
    bodyLimit: int('LOOPLAB_BODY_LIMIT', 1048576, 1, 2 ** 31 - 1),
    threads: int('UV_THREADPOOL_SIZE', 4, 1, 1024),
    workers: int('WORKERS', 8, 1, 1024),
    logLevel: oneOf('LOG_LEVEL', 'info', Object.keys(LOG_LEVELS)),
    logRequests: oneOf('LOOPLAB_LOG_REQUESTS', '0', ['0', '1']) === '1'
  }
  if (!settings.databaseUrl) die('DATABASE_URL is required (a libpq URI or key=value conninfo)', 2)
  return settings
}

// postgres.js takes a URI; libpq's key=value form is turned into its options.
function connectionOptions (conninfo) {
  if (/^postgres(ql)?:\/\//.test(conninfo)) return { url: conninfo, options: {} }
  const options = {}
  const connection = {}
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|((?:[^\s'\\]|\\.)+))/y
  let i = 0
  while (i < conninfo.length) {
    if (/^\s*$/.test(conninfo.slice(i))) break
    re.lastIndex = i
    const m = re.exec(conninfo)
    if (m === null) die(`DATABASE_URL: cannot parse the conninfo near "${conninfo.slice(i, i + 20)}"`, 2)
    const value = (m[2] ?? m[3]).replace(/\\(.)/g, '$1')
    switch (m[1]) {
      case 'host': case 'hostaddr': options.host = value; break
      case 'port': options.port = Number(value); break
      case 'dbname': options.database = value; break
      case 'user': options.user = value; break
      case 'password': options.password = value; break
      case 'sslmode': options.ssl = value === 'disable' ? false : value; break
      case 'connect_timeout': options.connect_timeout = Number(value); break
      case 'application_name': connection.application_name = value; break
      default: connection[m[1]] = value
    }
    i = re.lastIndex
  }
  if (Object.keys(connection).length) options.connection = connection
  return { url: undefined, options }
}

function logLine (settings, level, msg, fields) {
  if (LOG_LEVELS[level] < LOG_LEVELS[settings.logLevel]) return
  const line = { level: LOG_LEVELS[level], time: Date.now(), pid: process.pid, msg, ...fields }
  process.stdout.write(JSON.stringify(line) + '\n')
}

function settingsFields (settings) {
  return {
    host: settings.host,
    pool: settings.poolSize,
    queries: settings.queries,
    transform: settings.transform,
    threads: settings.threads,
    body_limit: settings.bodyLimit,
    ...(settings.cluster ? { workers: settings.workers, sched: cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none' } : {})
  }
}

// ---------------------------------------------------------------------------
// W1 request rules that JSON Schema cannot word as docs/workloads.md does.

const MAX_ID = 9223372036854775807n

// The path id, percent-decoded by the router: its decimal text, or null.
function parseId (text) {
  if (typeof text !== 'string' || !/^[0-9]{1,19}$/.test(text)) return null
  const v = BigInt(text)
  return v >= 1n && v <= MAX_ID ? v.toString() : null
}

// The first occurrence of a query parameter (fast-querystring gives an
// array when the key repeats; it decodes %XX and '+').
function firstQuery (request, key) {
  const v = request.query[key]
  return Array.isArray(v) ? v[0] : v
}

function httpError (statusCode, message, code) {
  const err = new Error(message)
  err.statusCode = statusCode
  if (code !== undefined) err.code = code
  return err
}

function validationError (message) {
  return httpError(400, message, 'FST_ERR_VALIDATION')
}

const ID_MESSAGE = 'params/id must be a positive 64-bit integer'

// onRequest: the id is checked before the body is read or parsed.
function checkPathId (request, reply, done) {
  const id = parseId(request.params.id)
  if (id === null) {
    done(validationError(ID_MESSAGE))
    return
  }
  request.itemId = id
  done()
}

// A `\u0000` escape in a string of the raw body (PostgreSQL text cannot hold NUL).
function hasNulEscape (buf) {
  if (buf.indexOf('\\u0000') === -1) return false
  let inString = false
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]
    if (!inString) {
      if (c === 0x22) inString = true
    } else if (c === 0x5c) {
      if (buf[i + 1] === 0x75 && buf.toString('latin1', i + 2, i + 6) === '0000') return true
      i++
    } else if (c === 0x22) {
      inString = false
    }
  }
  return false
}

// Decodes UTF-8, mapping each byte of an ill-formed sequence to a lone
// surrogate (U+DC80..U+DCFF), so that the validUtf8 keyword can name the
// field that holds it. Only used when the body is not valid UTF-8.
function decodeMarkingInvalid (buf) {
  let out = ''
  const units = []
  const push = u => {
    units.push(u)
    if (units.length >= 8192) { out += String.fromCharCode(...units); units.length = 0 }
  }
  const cont = (i, lo = 0x80, hi = 0xbf) => i < buf.length && buf[i] >= lo && buf[i] <= hi
  for (let i = 0; i < buf.length;) {
    const b = buf[i]
    let cp = -1
    let n = 1
    if (b < 0x80) {
      cp = b
    } else if (b >= 0xc2 && b <= 0xdf && cont(i + 1)) {
      cp = ((b & 0x1f) << 6) | (buf[i + 1] & 0x3f); n = 2
    } else if (b >= 0xe0 && b <= 0xef &&
               cont(i + 1, b === 0xe0 ? 0xa0 : 0x80, b === 0xed ? 0x9f : 0xbf) && cont(i + 2)) {
      cp = ((b & 0x0f) << 12) | ((buf[i + 1] & 0x3f) << 6) | (buf[i + 2] & 0x3f); n = 3
    } else if (b >= 0xf0 && b <= 0xf4 &&
               cont(i + 1, b === 0xf0 ? 0x90 : 0x80, b === 0xf4 ? 0x8f : 0xbf) && cont(i + 2) && cont(i + 3)) {
      cp = ((b & 0x07) << 18) | ((buf[i + 1] & 0x3f) << 12) | ((buf[i + 2] & 0x3f) << 6) | (buf[i + 3] & 0x3f); n = 4
    }
    if (cp < 0) {
      push(0xdc00 | b)
    } else if (cp > 0xffff) {
      push(0xd800 | ((cp - 0x10000) >> 10))
      push(0xdc00 | ((cp - 0x10000) & 0x3ff))
    } else {
      push(cp)
    }
    i += n
  }
  return out + String.fromCharCode(...units)
}

// W1's application/json parser: JSON.parse semantics (the last duplicate key
// wins), plus the two refusals of docs/workloads.md that precede it.
function parseItemJson (request, body, done) {
  if (body.length === 0) {
    done(new FST_ERR_CTP_EMPTY_JSON_BODY())
    return
  }
  if (hasNulEscape(body)) {
    done(httpError(400, 'body must not contain NUL characters'))
    return
  }
  const text = isUtf8(body) ? body.toString('utf8') : decodeMarkingInvalid(body)
  let value
  try {
    value = JSON.parse(text)
  } catch {
    done(httpError(400, 'Body is not valid JSON'))
    return
  }
  // JSON.parse takes "\ud800" and leaves a lone surrogate; like W3 (and
  // looplab), such a text is not valid JSON.
  if (ESCAPED_SURROGATE_RE.test(text) && hasLoneSurrogateEscape(text)) {
    done(httpError(400, 'Body is not valid JSON'))
    return
  }
  done(null, value)
}

// Ajv keyword: a string that holds no lone surrogate (after the checks above,
// only ill-formed bytes marked by decodeMarkingInvalid make one). Placed before maxLength
// so that it runs between the type and the length checks.
function validUtf8Keyword (ajv) {
  ajv.addKeyword({
    keyword: 'validUtf8',
    type: 'string',
    schemaType: 'boolean',
    before: 'maxLength',
    errors: true,
    validate: function validUtf8 (schema, data) {
      if (!schema || data.isWellFormed()) return true
      validUtf8.errors = [{ keyword: 'validUtf8', message: 'must be valid UTF-8', params: {} }]
      return false
    }
  })
  return ajv
}

const NAME = { type: 'string', validUtf8: true, minLength: 1, maxLength: 200 }
const DESCRIPTION = { type: ['string', 'null'], validUtf8: true, maxLength: 2000 }
const PRICE_CENTS = { type: 'integer', minimum: 0, maximum: 1000000000 }
const TAGS = {
  type: 'array',
  maxItems: 16,
  items: { type: 'string', validUtf8: true, minLength: 1, maxLength: 32 }
}
const ITEM_PROPERTIES = { name: NAME, description: DESCRIPTION, price_cents: PRICE_CENTS, tags: TAGS }
const ITEM_BODY = { type: 'object', required: ['name', 'price_cents'], properties: ITEM_PROPERTIES }
const PATCH_BODY = { type: 'object', properties: ITEM_PROPERTIES }

// ---------------------------------------------------------------------------
// Row -> JSON. postgres.js returns int8 and numeric as strings.

function itemJson (row) {
  return {
    id: Number(row.id),
    name: row.name,
    description: row.description,
    price_cents: Number(row.price_cents),
    tags: row.tags,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString()
  }
}

function dashboardJson (customer, monthly, products, recent, categories, region) {
  const orders = []
  let current = null
  for (const r of recent) {
    const id = Number(r.id)
    if (current === null || current.id !== id) {
      current = {
        id,
        placed_at: r.placed_at.toISOString(),
        status: r.status,
        total_cents: Number(r.total_cents),
        lines: []
      }
      orders.push(current)
    }
    current.lines.push({
      line_no: Number(r.line_no),
      product_id: Number(r.product_id),
      sku: r.sku,
      name: r.name,
      quantity: Number(r.quantity),
      unit_price_cents: Number(r.unit_price_cents)
    })
  }
  const benchmark = region[0]
  return {
    customer: {
      id: Number(customer.id),
      name: customer.name,
      email: customer.email,
      region: customer.region,
      created_at: customer.created_at.toISOString()
    },
    as_of: customer.as_of.toISOString(),
    monthly_spend: monthly.map(m => ({
      month: m.month.toISOString().slice(0, 7),
      orders: Number(m.orders),
      spend_cents: Number(m.spend_cents)
    })),
    top_products: products.map(p => ({
      product_id: Number(p.id),
      sku: p.sku,
      name: p.name,
      category: p.category,
      units: Number(p.units),
      spend_cents: Number(p.spend)
    })),
    recent_orders: orders,
    spend_by_category: categories.map(c => ({
      category: c.category,
      units: Number(c.units),
      spend_cents: Number(c.spend)
    })),
    region_benchmark: benchmark === undefined
      ? null
      : {
          region: benchmark.region,
          window_days: 30,
          orders: Number(benchmark.orders),
          avg_order_cents: Number(benchmark.avg_order_cents)
        }
  }
}

// ---------------------------------------------------------------------------
// Errors

// Connection-level failures: the database is unavailable, not the request wrong.
const DB_UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENOTFOUND', 'EAI_AGAIN', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED',
  'CONNECTION_DESTROYED'
])

function isDbUnavailable (err) {
  const code = err && err.code
  if (typeof code !== 'string') return false
  return DB_UNAVAILABLE_CODES.has(code) ||
    code.startsWith('08') || // connection exception
    code === '53300' || // too_many_connections
    code === '57P01' || code === '57P02' || code === '57P03' // shutdown, cannot connect now
}

function dbUnavailable () {
  const err = httpError(503, 'database unavailable')
  err.headers = { 'retry-after': '1' }
  return err
}

function unsupportedMediaType (request) {
  const ct = request.headers['content-type']
  return httpError(415, `Unsupported Media Type: ${ct ? ct.slice(0, 100) : 'none'}`,
    'FST_ERR_CTP_INVALID_MEDIA_TYPE')
}

function errorHandler (err, request, reply) {
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    // Fastify 5's message is "Unsupported Media Type"; the rule names the header.
    reply.send(unsupportedMediaType(request))
    return
  }
  if (isDbUnavailable(err)) {
    reply.send(dbUnavailable())
    return
  }
  const status = err.statusCode ?? err.status
  if (!(status >= 400 && status < 500) && status !== 503) {
    request.log.error({ err }, 'request failed')
    reply.send(httpError(500, 'Internal Server Error'))
    return
  }
  reply.send(err)
}

// ---------------------------------------------------------------------------
// The server (one process, or one cluster worker)

async function runServer (settings, queries) {
  const Fastify = require('fastify')
  const { LogController } = Fastify
  const postgres = require('postgres')
  const { transform, MSG_OBJECT } = require('./transform')

  const { url, options } = connectionOptions(settings.databaseUrl)
  const sql = postgres(url, { ...options, max: settings.poolSize })
  const run = (db, name, params) => db.unsafe(queries[name], params, { prepare: true })

  let transformPool = null
  const getTransformPool = () => {
    if (transformPool === null) {
      const { Piscina } = require('piscina')
      transformPool = new Piscina({
        filename: path.join(__dirname, 'transform-worker.js'),
        minThreads: settings.threads,
        maxThreads: settings.threads
      })
    }
    return transformPool
  }
  if (settings.transform === 'pool') getTransformPool()

  const app = Fastify({
    logger: { level: settings.logLevel },
    logController: new LogController({ disableRequestLogging: !settings.logRequests }),
    bodyLimit: settings.bodyLimit,
    return503OnClosing: false, // /readyz says "server is draining"; in-flight requests finish
    routerOptions: { maxParamLength: 2048 }, // a long id is the id's 400, not a 404
    ajv: {
      customOptions: { coerceTypes: false, allowUnionTypes: true },
      plugins: [validUtf8Keyword]
    }
  })

  let draining = false

  app.setErrorHandler(errorHandler)
  // Fastify's own 404 message (the raw URL, query included), in the
  // statusCode/error/message order every other error here has.
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(httpError(404, `Route ${request.method}:${request.raw.url} not found`))
  })

  // 405 with Allow for the other methods of a known path.
  const OTHER_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
  const methodNotAllowed = (app, url, allowed) => {
    const allow = allowed.join(', ')
    app.route({
      method: OTHER_METHODS.filter(m => !allowed.includes(m)),
      url,
      exposeHeadRoute: false,
      handler (request, reply) {
        const path = request.raw.url.split('?')[0]
        reply.header('allow', allow)
        reply.code(405).send(httpError(405, `Method ${request.method} is not allowed on ${path}`))
      }
    })
  }

  // -- probes
  app.get('/livez', async () => ({ status: 'ok' }))
  app.get('/readyz', async (request) => {
    if (draining) {
      const err = httpError(503, 'server is draining')
      err.headers = { 'retry-after': '1' }
      throw err
    }
    try {
      await run(sql, 'ping', [])
    } catch (err) {
      request.log.warn({ err: err.message }, 'readiness ping failed')
      throw dbUnavailable()
    }
    return { status: 'ok' }
  })
  methodNotAllowed(app, '/livez', ['GET', 'HEAD'])
  methodNotAllowed(app, '/readyz', ['GET', 'HEAD'])

  // -- W1: /items (its own context: its JSON parser refuses NUL escapes)
  app.register(async function items (app) {
    app.removeAllContentTypeParsers() // application/json only: text/plain is a 415
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, parseItemJson)

    const withId = { onRequest: checkPathId }

    app.post('/items', { schema: { body: ITEM_BODY } }, async (request, reply) => {
      const b = request.body
      const [row] = await run(sql, 'item_insert', [b.name, b.description ?? null, b.price_cents, b.tags ?? []])
      reply.code(201).header('location', `/items/${row.id}`)
      return itemJson(row)
    })

    app.get('/items', async (request) => {
      const limitText = firstQuery(request, 'limit')
      const afterText = firstQuery(request, 'after')
      let limit = 20
      let after = '0'
      if (limitText !== undefined) {
        if (!/^[0-9]+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 100) {
          throw validationError('querystring/limit must be an integer from 1 to 100')
        }
        limit = Number(limitText)
      }
      if (afterText !== undefined) {
        if (!/^[0-9]+$/.test(afterText) || BigInt(afterText) > MAX_ID) {
          throw validationError('querystring/after must be an integer from 0 to 9223372036854775807')
        }
        after = BigInt(afterText).toString()
      }
      const rows = await run(sql, 'item_list', [after, limit + 1])
      const page = rows.length > limit ? rows.slice(0, limit) : rows
      return {
        items: page.map(itemJson),
        next_after: rows.length > limit ? Number(page[page.length - 1].id) : null
      }
    })

    app.get('/items/:id', withId, async (request) => {
      const [row] = await run(sql, 'item_get', [request.itemId])
      if (row === undefined) throw httpError(404, `item ${request.itemId} not found`)
      return itemJson(row)
    })

    app.put('/items/:id', { ...withId, schema: { body: ITEM_BODY } }, async (request) => {
      const b = request.body
      const [row] = await run(sql, 'item_replace',
        [request.itemId, b.name, b.description ?? null, b.price_cents, b.tags ?? []])
      if (row === undefined) throw httpError(404, `item ${request.itemId} not found`)
      return itemJson(row)
    })

    app.patch('/items/:id', { ...withId, schema: { body: PATCH_BODY } }, async (request) => {
      const b = request.body
      const [row] = await run(sql, 'item_patch', [
        request.itemId,
        b.name ?? null,
        b.description !== undefined,
        b.description ?? null,
        b.price_cents ?? null,
        b.tags ?? null
      ])
      if (row === undefined) throw httpError(404, `item ${request.itemId} not found`)
      return itemJson(row)
    })

    app.delete('/items/:id', withId, async (request, reply) => {
      const result = await run(sql, 'item_delete', [request.itemId])
      if (result.count === 0) throw httpError(404, `item ${request.itemId} not found`)
      reply.code(204).send()
    })

    methodNotAllowed(app, '/items', ['GET', 'HEAD', 'POST'])
    methodNotAllowed(app, '/items/:id', ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'])
  })

  // -- W2: the dashboard
  const SECTIONS = ['dash_monthly', 'dash_top_products', 'dash_recent_orders', 'dash_categories', 'dash_region']

  async function dashboard (id, strategy) {
    if (strategy === 'parallel') {
      // The customer, then the five at once over the pool.
      const [customer] = await run(sql, 'dash_customer', [id])
      if (customer === undefined) return null
      const sections = await Promise.all(SECTIONS.map(name => run(sql, name, [id])))
      return dashboardJson(customer, ...sections)
    }
    // sequential and pipeline: one reserved connection. On a busy connection
    // postgres.js pipelines by itself, so Promise.all over it is the pipeline.
    const conn = await sql.reserve()
    try {
      const [customer] = await run(conn, 'dash_customer', [id])
      if (customer === undefined) return null
      let sections
      if (strategy === 'sequential') {
        sections = []
        for (const name of SECTIONS) sections.push(await run(conn, name, [id]))
      } else {
        sections = await Promise.all(SECTIONS.map(name => run(conn, name, [id])))
      }
      return dashboardJson(customer, ...sections)
    } finally {
      conn.release()
    }
  }

  app.get('/customers/:id/dashboard', async (request) => {
    const id = parseId(request.params.id)
    if (id === null) throw validationError(ID_MESSAGE)
    let strategy = settings.queries
    const q = firstQuery(request, 'queries')
    if (q !== undefined) {
      if (q !== 'sequential' && q !== 'parallel' && q !== 'pipeline') {
        throw validationError('querystring/queries must be one of sequential, parallel, pipeline')
      }
      strategy = q
    }
    const body = await dashboard(id, strategy)
    if (body === null) throw httpError(404, `customer ${id} not found`)
    return body
  })
  methodNotAllowed(app, '/customers/:id/dashboard', ['GET', 'HEAD'])

  // -- W3: the transform (its own context: the body is handed over as bytes)
  app.register(async function transformRoutes (app) {
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      if (body.length === 0) done(new FST_ERR_CTP_EMPTY_JSON_BODY())
      else done(null, body)
    })

    app.post('/transform', {
      // The mode is checked before the content type.
      onRequest (request, reply, done) {
        const mode = firstQuery(request, 'mode')
        if (mode !== undefined && mode !== 'loop' && mode !== 'pool') {
          done(httpError(400, 'querystring/mode must be one of loop, pool'))
          return
        }
        request.transformMode = mode ?? settings.transform
        done()
      }
    }, async (request, reply) => {
      if (request.body === undefined) throw httpError(400, MSG_OBJECT)
      const result = request.transformMode === 'pool'
        ? await getTransformPool().run(request.body)
        : transform(request.body)
      if (result.error !== undefined) throw httpError(400, result.error)
      reply.type('application/json; charset=utf-8')
      return result.body
    })
    methodNotAllowed(app, '/transform', ['POST'])
  })

  // -- start, drain
  // The start-up line is ours (see main); Fastify's "Server listening at" is
  // kept out of the log by raising the level for the duration of listen().
  const level = app.log.level
  if (LOG_LEVELS[level] < LOG_LEVELS.warn) app.log.level = 'warn'
  await app.listen({ host: settings.host, port: settings.port })
  app.log.level = level

  const shutdown = async () => {
    if (draining) return
    draining = true
    setTimeout(() => {
      logLine(settings, 'error', 'drain timed out', {})
      process.exit(1)
    }, 30000).unref()
    try {
      await app.close() // stops accepting; in-flight requests finish
      if (transformPool !== null) await transformPool.destroy()
      await sql.end({ timeout: 5 })
    } catch (err) {
      logLine(settings, 'error', 'drain failed', { err: err.message })
    }
    process.exit(0)
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)

  return app.server.address().port
}

// ---------------------------------------------------------------------------
// The cluster primary: forks WORKERS workers, replaces one that dies, drains
// them all on SIGTERM. Node applies NODE_CLUSTER_SCHED_POLICY itself.

function runPrimary (settings) {
  let listening = 0
  let started = false
  let stopping = false
  let exitCode = 0
  const everListened = new WeakSet()

  const fork = () => {
    const worker = cluster.fork()
    worker.on('listening', () => {
      everListened.add(worker)
      if (started) return
      if (++listening === settings.workers) {
        started = true
        logLine(settings, 'info', 'listening', {
          mode: 'cluster', port: settings.port, ...settingsFields(settings)
        })
      }
    })
    return worker
  }

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers).length === 0) process.exit(exitCode)
      return
    }
    if (!everListened.has(worker)) {
      logLine(settings, 'fatal', 'a worker failed to start; stopping', { worker_pid: worker.process.pid, code })
      stop(1)
      return
    }
    logLine(settings, 'warn', 'worker died; forking a new one', { worker_pid: worker.process.pid, code, signal })
    fork()
  })

  const stop = (code) => {
    if (stopping) return
    stopping = true
    exitCode = code
    const workers = Object.values(cluster.workers)
    if (workers.length === 0) process.exit(exitCode)
    for (const w of workers) w.process.kill('SIGTERM')
    setTimeout(() => {
      for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL')
      process.exit(1)
    }, 35000).unref()
  }
  process.on('SIGTERM', () => stop(0))
  process.on('SIGINT', () => stop(0))

  for (let i = 0; i < settings.workers; i++) fork()
}

// ---------------------------------------------------------------------------

function main () {
  const queries = loadQueries()
  if (process.env.LOOPLAB_PRINT_QUERIES === '1') {
    process.stdout.write(JSON.stringify(queries) + '\n')
    return
  }
  const settings = readSettings(process.env, process.argv)
  if (settings.cluster && cluster.isPrimary) {
    runPrimary(settings)
    return
  }
  runServer(settings, queries).then(port => {
    if (!settings.cluster) {
      logLine(settings, 'info', 'listening', { mode: 'single', port, ...settingsFields(settings) })
    }
  }, err => {
    logLine(settings, 'fatal', 'start-up failed', { err: err.message, code: err.code })
    process.exit(1)
  })
}

main()
