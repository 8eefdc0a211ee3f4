'use strict';
// results.json, read defensively: every figure may be null or missing, every
// cell, implementation, workload and section may be absent.

const { num, median } = require('./fmt');

const SCHEMA = 'looplab-bench/1';
const IMPL_ORDER = ['looplab', 'looplab-w0', 'node', 'node-cluster', 'node-pool', 'go'];
const WORKLOADS = [
  { id: 'w1', title: 'W1 CRUD', ceiling: 'db_w1', ceilingKey: 'tps', ceilingName: 'database W1 ceiling (pgbench tps)' },
  { id: 'w2', title: 'W2 aggregation (dashboard)', ceiling: 'db_w2', ceilingKey: 'tps', ceilingName: 'database W2 ceiling (pgbench tps)' },
  { id: 'w3', title: 'W3 JSON transform', ceiling: 'transform', ceilingKey: 'docs_per_s', ceilingName: 'transform ceiling (docs/s)' },
];
const FIGURES = ['rps', 'reqs', 'failed', 'p50_ms', 'p90_ms', 'p99_ms', 'max_ms', 'rss_peak', 'pss_peak',
  'cpu_per_req_us', 'cpu_cores', 'dropped'];

function obj(x) { return x && typeof x === 'object' && !Array.isArray(x) ? x : null; }
function arr(x) { return Array.isArray(x) ? x : []; }

class Model {
  constructor(r) {
    if (!obj(r)) throw new Error('results.json: top level is not an object');
    if (r.schema !== SCHEMA)
      throw new Error(`results.json: schema is ${JSON.stringify(r.schema)}, this report reads "${SCHEMA}"`);
    this.r = r;
    this.machine = obj(r.machine) || {};
    this.settings = obj(r.settings) || {};
    this.versions = obj(r.versions) || {};
    this.protocol = obj(r.protocol) || {};
    this.implsObj = obj(r.implementations) || {};
    this.matrix = obj(r.matrix) || {};
    this.ceilings = obj(r.ceilings) || {};
    this.experiments = obj(r.experiments) || {};
    this.indexRun = obj(r.index_run);
    this.cells = arr(r.cells).filter((c) => obj(c) && typeof c.impl === 'string' && typeof c.workload === 'string');
    // implementations: the known order first, then any others by name
    const ids = new Set(Object.keys(this.implsObj));
    for (const c of this.cells) ids.add(c.impl);
    this.impls = [...IMPL_ORDER.filter((i) => ids.has(i)), ...[...ids].filter((i) => !IMPL_ORDER.includes(i)).sort()];
  }

  label(impl) {
    const i = obj(this.implsObj[impl]);
    return i && typeof i.label === 'string' && i.label ? i.label : impl;
  }

  // the VUs of a workload: the matrix's, plus any seen in cells
  vus(w) {
    const s = new Set(arr(this.matrix[w]).map(num).filter((x) => x !== null));
    for (const c of this.cells) if (c.workload === w && num(c.vus) !== null) s.add(c.vus);
    return [...s].sort((a, b) => a - b);
  }

  workloadRan(w) { return this.cells.some((c) => c.workload === w); }
  implsIn(w) { return this.impls.filter((i) => this.cells.some((c) => c.workload === w && c.impl === i)); }

  cell(impl, w, vus) {
    return this.cells.find((c) => c.impl === impl && c.workload === w && c.vus === vus) || null;
  }

  runs(c) { return c ? arr(c.runs).filter(obj) : []; }

  // The cell's median RUN: the one written by the runner, filled in from the
  // runs for any figure it lacks.
  med(c) {
    if (!c) return null;
    const m = Object.assign({}, obj(c.median) || {});
    const runs = this.runs(c);
    for (const f of FIGURES) if (num(m[f]) === null && runs.length) m[f] = median(runs.map((r) => r[f]));
    return m;
  }

  fig(impl, w, vus, f) {
    const m = this.med(this.cell(impl, w, vus));
    return m ? num(m[f]) : null;
  }

  ceiling(w) {
    const d = WORKLOADS.find((x) => x.id === w);
    const c = obj(this.ceilings[d.ceiling]);
    return c ? num(c[d.ceilingKey]) : null;
  }

  // Why a figure is not there, in words.
  whyMissing(impl, w, vus, f) {
    const only = /--only\b/.test(String(this.r.command || ''));
    const wl = /--workloads\b/.test(String(this.r.command || ''));
    if (!this.impls.includes(impl) || (!this.implsObj[impl] && !this.cells.some((c) => c.impl === impl)))
      return `${impl} not run${only ? ' (--only excluded it)' : ''}`;
    if (w && !this.workloadRan(w) && !arr(this.matrix[w]).length)
      return `${w.toUpperCase()} not run${wl ? ' (--workloads excluded it)' : ''}`;
    if (w && vus !== undefined && vus !== null) {
      const c = this.cell(impl, w, vus);
      if (!c) return `${impl} ${w.toUpperCase()} at ${vus} VUs not measured${this.r.interrupted ? ' (run interrupted)' : ''}`;
      if (f && this.fig(impl, w, vus, f) === null) return `${impl} ${w.toUpperCase()} at ${vus} VUs has no ${f}`;
    } else if (!w && !this.cells.some((c) => c.impl === impl)) {
      return `${impl} has no measured cell${this.r.interrupted ? ' (run interrupted)' : ''}`;
    } else if (w && !this.cells.some((c) => c.impl === impl && c.workload === w)) {
      return `${impl} ${w.toUpperCase()} not measured${this.r.interrupted ? ' (run interrupted)' : ''}`;
    }
    return null;
  }
}

module.exports = { Model, SCHEMA, WORKLOADS, IMPL_ORDER, obj, arr };
