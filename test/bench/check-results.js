#!/usr/bin/env node
'use strict'
// Checks a bench/reproduce results folder (test/bench/smoke): results.json
// holds every planned cell with real figures, the ceilings and experiments
// are there, and results.md is a well-formed page whose every image exists.
//   check-results.js DIR IMPL,...
const fs = require('node:fs')
const path = require('node:path')

const [dir, implList] = process.argv.slice(2)
const impls = (implList || '').split(',').filter(Boolean)
const problems = []
const check = (ok, what) => { if (!ok) problems.push(what) }
const num = (v) => typeof v === 'number' && Number.isFinite(v)

let r
try {
  r = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'))
} catch (e) {
  console.log(`check-results: results.json: ${e.message}`)
  process.exit(1)
}

check(r.schema === 'looplab-bench/1', `schema is ${r.schema}`)
check(r.interrupted === false && !r.error, `run interrupted or failed: ${r.error || ''}`)
check(num(r.machine && r.machine.cores), 'machine.cores')
for (const k of ['looplab', 'node', 'fastify', 'postgres_js', 'go', 'postgresql']) {
  check(typeof (r.versions || {})[k] === 'string' && r.versions[k].length > 0, `versions.${k}`)
}
for (const impl of impls) {
  const d = (r.implementations || {})[impl]
  check(d && typeof d.command === 'string' && num(d.db_connections), `implementations.${impl}`)
}
// Every implementation has the same number of database connections.
const conns = new Set(Object.values(r.implementations || {}).map((d) => d.db_connections))
check(conns.size === 1, `db_connections differ: ${[...conns]}`)

const runKeys = ['rps', 'reqs', 'p50_ms', 'p99_ms', 'rss_peak', 'cpu_per_req_us']
function goodRun (run, what) {
  if (!run) return check(false, `${what}: missing`)
  for (const k of runKeys) check(num(run[k]) && run[k] > 0, `${what}.${k} = ${run[k]}`)
  check(run.failed === 0, `${what}: ${run.failed} failed requests`)
  check(run.p50_ms <= run.p99_ms, `${what}: p50 above p99`)
}

for (const [w, levels] of Object.entries(r.matrix || {})) {
  for (const impl of impls) {
    for (const vus of levels) {
      const c = (r.cells || []).find((x) => x.impl === impl && x.workload === w && x.vus === vus)
      const what = `cell ${impl} ${w} ${vus}`
      if (!c) { check(false, `${what}: missing`); continue }
      check(c.runs.length === r.protocol.runs, `${what}: ${c.runs.length} runs, protocol says ${r.protocol.runs}`)
      c.runs.forEach((run, i) => {
        goodRun(run, `${what} run ${i + 1}`)
        check(run.summary && fs.existsSync(path.join(dir, run.summary)), `${what} run ${i + 1}: summary file`)
      })
      goodRun(c.median, `${what} median`)
      check(/^looplab-load /.test(c.command || ''), `${what}: command`)
    }
  }
}
check(Object.keys(r.matrix || {}).length === 3, 'matrix has w1, w2 and w3')

const ce = r.ceilings || {}
check(num(ce.db_w1 && ce.db_w1.tps) && ce.db_w1.tps > 0, 'ceilings.db_w1')
check(num(ce.db_w2 && ce.db_w2.tps) && ce.db_w2.tps > 0, 'ceilings.db_w2')
check(num(ce.http && ce.http.rps) && ce.http.rps > 0, 'ceilings.http')
check(num(ce.transform && ce.transform.docs_per_s) && ce.transform.docs_per_s > 0, 'ceilings.transform')

const ix = r.index_run
check(ix && ix.cells && ix.cells.length === impls.length, 'index_run has a cell per implementation')
for (const c of (ix && ix.cells) || []) {
  goodRun(c.without, `index_run ${c.impl} without`)
  check(c.with && c.without && c.with.rps > c.without.rps, `index_run ${c.impl}: the indexes did not help`)
}

const mixed = (r.experiments || {}).mixed
check(mixed && mixed.runs.length === 6, 'experiments.mixed has 6 runs')
for (const m of (mixed && mixed.runs) || []) {
  goodRun(m.reads, `mixed ${m.impl} ${m.variant} reads`)
  check(m.transforms && m.transforms.reqs > 0 && m.transforms.failed === 0, `mixed ${m.impl} ${m.variant} transforms`)
  if (m.impl.startsWith('looplab')) check(num(m.lag_max_ms) && m.lag_series.length > 0, `mixed ${m.variant}: lag`)
}
const sched = (r.experiments || {}).sched
check(sched && sched.runs.map((s) => s.sched).join() === 'rr,none,reuseport', 'experiments.sched runs')
for (const s of (sched && sched.runs) || []) {
  goodRun(s.run, `sched ${s.sched}`)
  check(s.per_worker.length === r.settings.workers && s.per_worker.every((n) => n > 0), `sched ${s.sched}: per-worker counts ${s.per_worker}`)
}

// The page: every section, a claims table, well-formed tables, images.
let md = ''
try { md = fs.readFileSync(path.join(dir, 'results.md'), 'utf8') } catch { check(false, 'results.md missing') }
for (const h of ['## W1', '## W2', '## W3', '## Ceilings', '## The study\'s claims']) check(md.includes(h), `results.md: no "${h}" section`)
const lines = md.split('\n')
for (let i = 0; i < lines.length; i++) {
  if (!/^\|/.test(lines[i]) || !/^\|[-:| ]+\|$/.test(lines[i + 1] || '')) continue
  const cols = (s) => s.replace(/\\\|/g, '').split('|').length
  const n = cols(lines[i])
  for (let j = i + 1; j < lines.length && /^\|/.test(lines[j]); j++) {
    check(cols(lines[j]) === n, `results.md line ${j + 1}: ${cols(lines[j]) - 2} cells, header has ${n - 2}`)
  }
}
const claimRows = md.split('## The study\'s claims')[1] || ''
const verdicts = claimRows.match(/\*\*(held|did not hold|cannot be tested here)\*\*/g) || []
check(verdicts.length >= 10, `claims table: ${verdicts.length} verdicts`)
const images = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1])
check(images.length >= 7, `results.md: ${images.length} charts`)
for (const img of images) {
  let head = Buffer.alloc(0)
  try { head = fs.readFileSync(path.join(dir, img)).subarray(0, 8) } catch {}
  check(head.toString('hex') === '89504e470d0a1a0a', `${img}: not a PNG`)
}

if (problems.length) {
  console.log(`check-results: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.log(`check-results: ok (${(r.cells || []).length} cells, ${verdicts.length} claims, ${images.length} charts)`)
