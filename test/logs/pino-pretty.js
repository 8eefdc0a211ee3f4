#!/usr/bin/env node
// ctest logs/pino-pretty (issue 12, point 2): looplab's stdout through the
// real pino-pretty (npm, test/logs/package.json). A two-worker looplab with
// --log-requests on the fixture database answers requests with and without
// an X-Request-Id, a 404 with a query and a POST; then every line it wrote
// must be JSON that pino-pretty renders as a log line (it passes anything
// else through as is), every worker line must carry `worker`, and every
// request line must have Fastify's shape: reqId (unique, or the client's
// X-Request-Id, which comes back in the response), req {method, url with
// its query, hostname, remoteAddress, remotePort}, res {statusCode} and
// responseTime in ms.
//   LOOPLAB_BIN=... LOOPLAB_TEST_PG_DIR=... node test/logs/pino-pretty.js
'use strict'
const { spawn, spawnSync, execFileSync } = require('child_process')
const fs = require('fs')
const http = require('http')
const net = require('net')
const path = require('path')

const here = __dirname
const bin = process.env.LOOPLAB_BIN
const pgDir = process.env.LOOPLAB_TEST_PG_DIR
if (!bin || !pgDir) {
  console.error('pino-pretty: LOOPLAB_BIN and LOOPLAB_TEST_PG_DIR are required (run under ctest)')
  process.exit(2)
}

function fail (msg) {
  console.error('pino-pretty: FAIL ' + msg)
  process.exitCode = 1
}

// pino-pretty itself, installed once (quietly) from the committed lock.
function pinoPretty () {
  const exe = path.join(here, 'node_modules', '.bin', 'pino-pretty')
  if (!fs.existsSync(exe)) {
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--silent'], { cwd: here, stdio: 'inherit' })
    if (r.status !== 0) throw new Error('npm ci in test/logs failed')
  }
  return exe
}

function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) })
    s.on('error', reject)
  })
}

function request (port, method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: url, headers, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res))
    })
    req.on('error', reject)
    if (body) req.write(body)
    req.end()
  })
}

async function waitReady (port) {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await request(port, 'GET', '/readyz', {})
      if (r.statusCode === 200) return
    } catch (e) {}
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('looplab not ready within 15 s')
}

async function main () {
  const pretty = pinoPretty()
  const conninfo = fs.readFileSync(path.join(pgDir, 'conninfo'), 'utf8').trim()
  const port = await freePort()
  const srv = spawn(bin, ['--workers', '2', '--port', String(port), '--db', conninfo, '--log-requests'],
    { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  srv.stdout.on('data', (d) => { out += d })
  const exited = new Promise((resolve) => srv.on('exit', (code) => resolve(code)))
  try {
    await waitReady(port)
    const mine = await request(port, 'GET', '/items/1', { 'X-Request-Id': 'trace-42.a' })
    if (mine.headers['x-request-id'] !== 'trace-42.a') fail('X-Request-Id not echoed: ' + mine.headers['x-request-id'])
    const bad = await request(port, 'GET', '/items/2', { 'X-Request-Id': 'has space' })
    if (bad.headers['x-request-id'] !== undefined) fail('an unusable X-Request-Id was echoed')
    for (let i = 0; i < 6; i++) await request(port, 'GET', '/items/' + (i + 3), {})
    await request(port, 'GET', '/nope?x=1', {})
    await request(port, 'POST', '/items', { 'Content-Type': 'application/json' },
      JSON.stringify({ name: 'log test', price_cents: 1 }))
  } finally {
    srv.kill('SIGTERM')
  }
  const code = await exited
  if (code !== 0) fail('looplab exited ' + code)

  const lines = out.split('\n').filter((l) => l.length)
  const requests = []
  for (const l of lines) {
    let o
    try { o = JSON.parse(l) } catch (e) { fail('not JSON: ' + l); continue }
    if (o.pid !== srv.pid && o.worker === undefined) fail('a worker line without worker: ' + l)
    if (o.msg === 'request completed') requests.push(o)
  }
  const sent = requests.filter((o) => o.req && o.req.url !== '/readyz').length
  if (sent !== 10) fail(`${sent} request lines besides /readyz, want 10`)
  const ids = new Set()
  for (const o of requests) {
    const r = o.req || {}
    if (typeof o.reqId !== 'string' || ids.has(o.reqId)) fail('reqId missing or repeated: ' + JSON.stringify(o))
    ids.add(o.reqId)
    if (typeof r.method !== 'string' || typeof r.url !== 'string' || r.hostname !== `127.0.0.1:${port}` ||
        r.remoteAddress !== '127.0.0.1' || !(r.remotePort > 0)) fail('req not in Fastify\'s shape: ' + JSON.stringify(o))
    if (!o.res || typeof o.res.statusCode !== 'number') fail('res.statusCode missing: ' + JSON.stringify(o))
    if (typeof o.responseTime !== 'number' || o.responseTime < 0 || o.responseTime > 60000) fail('responseTime: ' + JSON.stringify(o))
  }
  if (!requests.some((o) => o.reqId === 'trace-42.a' && o.req.url === '/items/1')) fail('the client\'s X-Request-Id is not the reqId')
  if (!requests.some((o) => o.req.url === '/nope?x=1' && o.res.statusCode === 404)) fail('the 404\'s url lost its query')
  if (!requests.some((o) => o.req.method === 'POST' && o.res.statusCode === 201)) fail('the POST is not logged')

  // pino-pretty renders each line as "[time] LEVEL (pid): msg" and passes
  // through what it cannot read: every line must be rendered.
  const rendered = execFileSync(pretty, ['--colorize', 'false'], { input: lines.join('\n') + '\n' }).toString()
  const heads = rendered.split('\n').filter((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \(\d+\): /.test(l))
  if (heads.length !== lines.length) fail(`pino-pretty rendered ${heads.length} of ${lines.length} lines:\n${rendered}`)
  if (!/reqId: "trace-42\.a"/.test(rendered)) fail('pino-pretty did not show the reqId')
  console.log(`pino-pretty: ${lines.length} lines rendered, ${requests.length} request lines in Fastify's shape` +
    (process.exitCode ? ' (with failures above)' : ''))
}

main().catch((e) => { console.error('pino-pretty: ' + e.stack); process.exit(1) })
