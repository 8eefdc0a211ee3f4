'use strict';
// The study's claims, each tested against this run's figures with the
// thresholds written in bench/report/README.md (keep the two in step: every
// number below named T.* is listed there).

const f = require('./fmt');
const { num, div, median } = f;
const { obj, arr } = require('./model');

const HELD = 'held', NOT = 'did not hold', CANNOT = 'cannot be tested here';

// Thresholds. "about X" claims get a band around the study's figure.
const T = {
  crudRatioLo: 1.2, crudRatioHi: 1.6,       // "about 40 % faster": go/node W1 at 100 VUs
  widenRel: 1.05,                           // "widening": ratio at top VUs > ratio at 100 x 1.05
  latLo: 0.20, latHi: 0.60,                 // "30-50 % better latency": median of 1 - go p99 / node p99
  clusterLo: 1.05, clusterHi: 1.25,         // "about 15 %": median over VUs of go / node-cluster W1
  clusterP99Rel: 1.05,                      // "worse p99": node-cluster p99 > node p99 x 1.05 at most VUs
  narrowRel: 0.95,                          // "narrows": go/node W2 < go/node W1 x 0.95 at 100 VUs
  dbDominates: 0.70,                        // "database dominates": best W2 req/s >= 70 % of db_w2 tps
  closeHi: 1.20,                            // "close at low concurrency": go/node W2 at 100 <= 1.20
  divergeRel: 1.10, divergeVus: 300,        // "diverging above ~300": ratio at VUs >= 300 > ratio at 100 x 1.10
  w3Lo: 3.5, w3Hi: 5.5,                     // "4-5x": median over VUs of go/node W3
  poolLo: 2.0, poolHi: 3.0,                 // "about 2.5x": median over VUs of go/node-pool W3
  nodeCrudLo: 5000,                         // "5,000-8,000 req/s": best node W1 >= 5,000
  nodeCrudHi: 8000,
  indexLo: 4, indexHi: 12,                  // "5-10x": median over impls of with/without index
  blockRel: 2.0,                            // "blocks": reads p99 with transforms on the loop >= 2x with the pool
};

function claims(m) {
  const out = [];
  const add = (c) => out.push(Object.assign({ node: f.DASH, go: f.DASH, looplab: f.DASH }, c));
  const rpsAt = (i, w, v) => m.fig(i, w, v, 'rps');
  const r = (a, b, w, v) => div(rpsAt(a, w, v), rpsAt(b, w, v));
  const why = (...parts) => [...new Set(parts.filter(Boolean))].join('; ');
  const rpsU = (x, sfx = '') => (num(x) === null ? f.DASH : `${f.rps(x)} req/s${sfx}`);
  const msU = (x) => (num(x) === null ? f.DASH : `${f.ms(x)} ms`);
  const miss = (impls, w, v, fig) => impls.map((i) => m.whyMissing(i, w, v, fig)).filter(Boolean);
  const v1 = m.vus('w1'), v2 = m.vus('w2'), v3 = m.vus('w3');
  const low = (vs) => (vs.includes(100) ? 100 : vs[0]);
  const top = (vs) => vs[vs.length - 1];
  const at = (v) => (v === undefined ? '' : ` at ${v} VUs`);
  const ll = m.impls.includes('looplab') ? 'looplab' : m.impls.find((i) => i.startsWith('looplab'));
  const ratiosOver = (a, b, w, vs) => vs.map((v) => [v, r(a, b, w, v)]).filter((x) => x[1] !== null);
  const listRatios = (xs) => xs.map(([v, x]) => `${f.ratio(x)} at ${v}`).join(', ');

  // 1a. Go about 40 % faster than Node on CRUD at 100 users
  {
    const v = low(v1);
    const x = v === undefined ? null : r('go', 'node', 'w1', v);
    const c = { claim: 'Go about 40 % faster than Node on CRUD at 100 users', study: '12,400 vs 8,900 req/s (1.39x)' };
    if (v !== undefined) {
      c.node = `${rpsU(rpsAt('node', 'w1', v))}`; c.go = `${rpsU(rpsAt('go', 'w1', v))}`;
      if (ll) c.looplab = rpsU(rpsAt(ll, 'w1', v)) + (r(ll, 'node', 'w1', v) !== null ? ` (${f.ratio(r(ll, 'node', 'w1', v))} node)` : '');
    }
    if (x === null) Object.assign(c, { verdict: CANNOT, why: why(...miss(['go', 'node'], 'w1', v, 'rps')) || 'W1 not run' });
    else Object.assign(c, {
      verdict: x >= T.crudRatioLo && x <= T.crudRatioHi ? HELD : NOT,
      why: `go/node = ${f.ratio(x)}${at(v)}; held if ${T.crudRatioLo}-${T.crudRatioHi}x${v !== 100 ? ' (100 VUs not run: lowest measured)' : ''}`,
    });
    add(c);
  }

  // 1b. gap widening with concurrency
  {
    const xs = ratiosOver('go', 'node', 'w1', v1);
    const c = { claim: 'The CRUD gap (go/node) widens with concurrency', study: 'widening from 100 to 500/1000 users' };
    const list = (i) => v1.map((v) => [v, rpsAt(i, 'w1', v)]).filter((p) => p[1] !== null).map((p) => `${f.rps(p[1])}@${p[0]}`).join(', ') || f.DASH;
    c.node = list('node'); c.go = list('go');
    if (ll) { const lx = ratiosOver(ll, 'node', 'w1', v1); if (lx.length) c.looplab = `${ll}/node ${listRatios(lx)}`; }
    if (xs.length < 2) Object.assign(c, { verdict: CANNOT, why: why(`go/node measured at ${xs.length} W1 concurrency level(s), needs 2`, ...miss(['go', 'node'], 'w1')) });
    else {
      const [v0, a] = xs[0], [vt, b] = xs[xs.length - 1];
      Object.assign(c, {
        verdict: b > a * T.widenRel ? HELD : NOT,
        why: `go/node ${listRatios(xs)}; held if the ratio at ${vt} exceeds the one at ${v0} by more than ${Math.round((T.widenRel - 1) * 100)} %`,
      });
    }
    add(c);
  }

  // 2. Go 30-50 % better latency (W1 and W2, p99 with p50 beside)
  {
    const pts = [], p50s = [];
    for (const [w, vs] of [['w1', v1], ['w2', v2]]) for (const v of vs) {
      const n = m.fig('node', w, v, 'p99_ms'), g = m.fig('go', w, v, 'p99_ms');
      if (n !== null && g !== null && n > 0) pts.push({ w, v, imp: 1 - g / n, n, g });
      const n5 = m.fig('node', w, v, 'p50_ms'), g5 = m.fig('go', w, v, 'p50_ms');
      if (n5 !== null && g5 !== null && n5 > 0) p50s.push(1 - g5 / n5);
    }
    const c = { claim: 'Go has 30-50 % better latency than Node (W1, W2)', study: '30-50 % lower latency' };
    if (pts.length) {
      c.node = 'p99 ' + pts.map((p) => `${f.ms(p.n)}`).join(' / ') + ' ms';
      c.go = 'p99 ' + pts.map((p) => `${f.ms(p.g)}`).join(' / ') + ' ms';
      if (ll) {
        const lp = pts.map((p) => m.fig(ll, p.w, p.v, 'p99_ms'));
        c.looplab = 'p99 ' + lp.map(f.ms).join(' / ') + ' ms';
      }
    }
    if (!pts.length) Object.assign(c, { verdict: CANNOT, why: why('no W1/W2 cell with both node and go p99', ...miss(['go', 'node'], 'w1'), ...miss(['go', 'node'], 'w2')) });
    else {
      const mi = median(pts.map((p) => p.imp)), m50 = median(p50s);
      Object.assign(c, {
        verdict: mi >= T.latLo && mi <= T.latHi ? HELD : NOT,
        why: `cells ${pts.map((p) => `${p.w.toUpperCase()}@${p.v}`).join(', ')}: go p99 lower by ${pts.map((p) => f.pct(p.imp)).join(' / ')} (median ${f.pct(mi)}; p50 median ${f.pct(m50)}); held if the p99 median is ${Math.round(T.latLo * 100)}-${Math.round(T.latHi * 100)} %`,
      });
    }
    add(c);
  }

  // 3. Memory ranges
  {
    const range = (impl) => {
      const xs = m.cells.filter((c) => c.impl === impl).map((c) => num(m.med(c).rss_peak)).filter((x) => x !== null);
      return xs.length ? [Math.min(...xs), Math.max(...xs), xs.length] : null;
    };
    const show = (rg) => (!rg ? f.DASH : `${rg[0] === rg[1] ? f.mb(rg[0]) : `${f.mb(rg[0])}-${f.mb(rg[1])}`} MB (${rg[2]} cell${rg[2] === 1 ? '' : 's'})`);
    const g = range('go'), n = range('node');
    const c = { claim: 'Memory: Go 45-58 MB vs Node 120-310 MB', study: 'Go 45-58 MB, Node 120-310 MB', node: show(n), go: show(g) };
    if (ll) c.looplab = show(range(ll));
    if (!g || !n) Object.assign(c, { verdict: CANNOT, why: why('peak RSS missing', !g && (m.whyMissing('go') || 'go has no rss_peak'), !n && (m.whyMissing('node') || 'node has no rss_peak')) });
    else Object.assign(c, {
      verdict: g[1] < n[0] ? HELD : NOT,
      why: `held if go's largest peak RSS is below node's smallest (the ranges do not overlap, as in the study); go max / node min = ${f.ratio(g[1] / n[0])}. Absolute MB depend on pool sizes and the machine`,
    });
    add(c);
  }

  // 4a. Node cluster closes the gap to about 15 %
  {
    const xs = ratiosOver('go', 'node-cluster', 'w1', v1);
    const c = { claim: 'Node cluster closes the CRUD gap to about 15 %', study: 'go / node cluster about 1.15x' };
    const v = low(v1);
    if (v !== undefined) {
      c.node = `cluster ${rpsU(rpsAt('node-cluster', 'w1', v), at(v))}`;
      c.go = `${rpsU(rpsAt('go', 'w1', v), at(v))}`;
      if (ll) c.looplab = `${rpsU(rpsAt(ll, 'w1', v), at(v))}`;
    }
    if (!xs.length) Object.assign(c, { verdict: CANNOT, why: why(...miss(['go', 'node-cluster'], 'w1')) || 'no W1 cell with both' });
    else {
      const mr = median(xs.map((x) => x[1]));
      Object.assign(c, {
        verdict: mr >= T.clusterLo && mr <= T.clusterHi ? HELD : NOT,
        why: `go/node-cluster ${listRatios(xs)} (median ${f.ratio(mr)}); held if ${T.clusterLo}-${T.clusterHi}x; workers = ${m.settings.workers ?? '?'}`,
      });
    }
    add(c);
  }

  // 4b. ... with worse p99 (IPC)
  {
    const pts = v1.map((v) => [v, m.fig('node-cluster', 'w1', v, 'p99_ms'), m.fig('node', 'w1', v, 'p99_ms'), m.fig('go', 'w1', v, 'p99_ms')])
      .filter((p) => p[1] !== null && p[2] !== null);
    const c = { claim: 'Node cluster has worse p99 than single Node (IPC)', study: 'worse p99' };
    if (pts.length) {
      c.node = `p99 cluster ${pts.map((p) => f.ms(p[1])).join(' / ')} vs single ${pts.map((p) => f.ms(p[2])).join(' / ')} ms`;
      c.go = `p99 ${pts.map((p) => f.ms(p[3])).join(' / ')} ms`;
      if (ll) c.looplab = `p99 ${pts.map((p) => f.ms(m.fig(ll, 'w1', p[0], 'p99_ms'))).join(' / ')} ms`;
    }
    if (!pts.length) Object.assign(c, { verdict: CANNOT, why: why(...miss(['node-cluster', 'node'], 'w1')) || 'no W1 p99 for both' });
    else {
      const worse = pts.filter((p) => p[1] > p[2] * T.clusterP99Rel).length;
      Object.assign(c, {
        verdict: worse * 2 > pts.length ? HELD : NOT,
        why: `cluster p99 worse than single node's by more than ${Math.round((T.clusterP99Rel - 1) * 100)} % at ${worse} of ${pts.length} W1 levels (${pts.map((p) => p[0]).join(', ')} VUs); held if at most of them`,
      });
    }
    add(c);
  }

  // 5a. W2 gap narrows
  {
    const v = v2.includes(100) && v1.includes(100) ? 100 : v2.find((x) => v1.includes(x));
    const a = v === undefined ? null : r('go', 'node', 'w1', v), b = v === undefined ? null : r('go', 'node', 'w2', v);
    const c = { claim: 'The W2 gap is narrower than W1\'s', study: '3,200 vs 2,800 req/s (1.14x, vs 1.39x in W1)' };
    if (v !== undefined) {
      c.node = `${rpsU(rpsAt('node', 'w2', v))}`; c.go = `${rpsU(rpsAt('go', 'w2', v))}`;
      if (ll) c.looplab = `${rpsU(rpsAt(ll, 'w2', v))}`;
    }
    if (a === null || b === null) Object.assign(c, { verdict: CANNOT, why: why('needs go and node in W1 and W2 at the same VUs', ...miss(['go', 'node'], 'w2', v), ...miss(['go', 'node'], 'w1', v)) });
    else Object.assign(c, {
      verdict: b < a * T.narrowRel ? HELD : NOT,
      why: `go/node W2 ${f.ratio(b)} vs W1 ${f.ratio(a)}${at(v)}; held if W2's is more than ${Math.round((1 - T.narrowRel) * 100)} % below W1's`,
    });
    add(c);
  }

  // 5b. ... because the database dominates
  {
    const ceil = m.ceiling('w2');
    const best = [];
    for (const i of m.impls) for (const v of v2) { const x = rpsAt(i, 'w2', v); if (x !== null) best.push([x, i, v]); }
    best.sort((p, q) => q[0] - p[0] || (p[1] < q[1] ? -1 : 1));
    const c = { claim: 'W2 is bound by the database', study: 'the database dominates' };
    const fr = (i) => { const xs = v2.map((v) => rpsAt(i, 'w2', v)).filter((x) => x !== null); return xs.length ? `best ${f.pct(div(Math.max(...xs), ceil))} of ceiling` : f.DASH; };
    if (ceil !== null) { c.node = fr('node'); c.go = fr('go'); if (ll) c.looplab = fr(ll); }
    if (ceil === null) Object.assign(c, { verdict: CANNOT, why: 'no ceilings.db_w2 (run without --no-ceilings)' });
    else if (!best.length) Object.assign(c, { verdict: CANNOT, why: 'W2 not measured' });
    else {
      const x = best[0][0] / ceil;
      Object.assign(c, {
        verdict: x >= T.dbDominates ? HELD : NOT,
        why: `best W2 ${rpsU(best[0][0])} (${best[0][1]} at ${best[0][2]} VUs) = ${f.pct(x)} of the database's ${f.rps(ceil)} tps; held if >= ${Math.round(T.dbDominates * 100)} %`,
      });
    }
    add(c);
  }

  // 6. Promise.all close at low concurrency, diverging above ~300
  {
    const strat = m.settings.w2_queries;
    const v = low(v2);
    const hi = v2.filter((x) => x >= T.divergeVus);
    const a = v === undefined ? null : r('go', 'node', 'w2', v);
    const hs = hi.map((x) => [x, r('go', 'node', 'w2', x)]).filter((p) => p[1] !== null);
    const c = { claim: 'Promise.all keeps Node close to Go at low concurrency, diverging above about 300 users', study: 'close at 100, diverging above ~300' };
    c.node = `${rpsU(v === undefined ? null : rpsAt('node', 'w2', v), at(v))}`;
    c.go = `${rpsU(v === undefined ? null : rpsAt('go', 'w2', v), at(v))}`;
    if (ll && v !== undefined) c.looplab = `${rpsU(rpsAt(ll, 'w2', v), at(v))}`;
    // the runner writes e.g. "parallel (each implementation's default: Promise.all / ...)"
    if (strat !== undefined && strat !== null && !/^\s*parallel\b|Promise\.all/i.test(String(strat)))
      Object.assign(c, { verdict: CANNOT, why: `settings.w2_queries = ${strat}: the claim is about the parallel (Promise.all) strategy` });
    else if (a === null || !hs.length)
      Object.assign(c, { verdict: CANNOT, why: why(`needs go/node W2 at 100 and at >= ${T.divergeVus} VUs`, ...miss(['go', 'node'], 'w2')) });
    else {
      const [vh, b] = hs[hs.length - 1];
      const close = a <= T.closeHi, diverge = b > a * T.divergeRel;
      Object.assign(c, {
        verdict: close && diverge ? HELD : NOT,
        why: `go/node ${f.ratio(a)} at ${v}, ${f.ratio(b)} at ${vh} (strategy ${strat ?? 'not recorded'}); held if <= ${T.closeHi}x at ${v} and the ratio at ${vh} exceeds it by more than ${Math.round((T.divergeRel - 1) * 100)} %`,
      });
    }
    add(c);
  }

  // 7. W3: Go 4-5x Node; 8. worker threads narrow to about 2.5x
  const w3 = (other, lo, hi, claim, study) => {
    const xs = ratiosOver('go', other, 'w3', v3);
    const c = { claim, study };
    const v = low(v3);
    if (v !== undefined) {
      c.node = `${other === 'node' ? '' : other + ' '}${rpsU(rpsAt(other, 'w3', v), at(v))}`;
      c.go = `${rpsU(rpsAt('go', 'w3', v), at(v))}`;
      if (ll) c.looplab = `${rpsU(rpsAt(ll, 'w3', v), at(v))}`;
    }
    if (!xs.length) Object.assign(c, { verdict: CANNOT, why: why(...miss(['go', other], 'w3')) || `no W3 cell with both go and ${other}` });
    else {
      const mr = median(xs.map((x) => x[1]));
      let extra = '';
      if (other === 'node-pool') {
        const single = median(ratiosOver('go', 'node', 'w3', v3).map((x) => x[1]));
        if (single !== null) extra = `; go/node (single loop) median ${f.ratio(single)}`;
      }
      Object.assign(c, {
        verdict: mr >= lo && mr <= hi ? HELD : NOT,
        why: `go/${other} ${listRatios(xs)} (median ${f.ratio(mr)}); held if ${lo}-${hi}x${extra}`,
      });
    }
    add(c);
  };
  w3('node', T.w3Lo, T.w3Hi, 'W3: Go 4-5x faster than Node', '1,800 vs 420 req/s (4.3x)');
  w3('node-pool', T.poolLo, T.poolHi, 'Worker threads narrow the W3 gap to about 2.5x', 'go / node with worker threads about 2.5x');

  // 9. A single Node server handles 5,000-8,000 CRUD req/s
  {
    const xs = v1.map((v) => [v, rpsAt('node', 'w1', v)]).filter((p) => p[1] !== null);
    const c = { claim: 'A single Node server handles 5,000-8,000 CRUD req/s', study: '5,000-8,000 req/s' };
    const cores = num(m.machine.cores);
    const host = m.machine.one_host ? `on ${cores ?? '?'} cores shared with the database and the load generator` : `on ${cores ?? '?'} cores`;
    if (xs.length) {
      c.node = xs.map((p) => `${f.rps(p[1])}@${p[0]}`).join(', ');
      const g = v1.map((v) => rpsAt('go', 'w1', v)).filter((x) => x !== null);
      if (g.length) c.go = `best ${f.rps(Math.max(...g))}`;
      if (ll) { const l = v1.map((v) => rpsAt(ll, 'w1', v)).filter((x) => x !== null); if (l.length) c.looplab = `best ${f.rps(Math.max(...l))}`; }
    }
    if (!xs.length) Object.assign(c, { verdict: CANNOT, why: why(...miss(['node'], 'w1')) || 'no node W1 figure' });
    else {
      const best = Math.max(...xs.map((p) => p[1]));
      Object.assign(c, {
        verdict: best >= T.nodeCrudLo ? HELD : NOT,
        why: `best node W1 ${rpsU(best)} ${host}; held if >= ${f.rps(T.nodeCrudLo)}${best > T.nodeCrudHi ? ` (above the study's ${f.rps(T.nodeCrudHi)}: this machine's small rows and local database)` : ''}; the figure depends on the machine`,
      });
    }
    add(c);
  }

  // 10a/10b. Indexing gives 5-10x, more than changing the runtime
  {
    const ir = m.indexRun;
    const cells = ir ? arr(ir.cells).filter((c) => obj(c) && typeof c.impl === 'string') : [];
    const gains = cells.map((c) => [c.impl, div(obj(c.with) && c.with.rps, obj(c.without) && c.without.rps)]).filter((p) => p[1] !== null);
    const g = (i) => { const p = gains.find((x) => x[0] === i); return p ? `${f.ratio(p[1])} with index` : f.DASH; };
    const base = { node: g('node'), go: g('go'), looplab: ll ? g(ll) : f.DASH };
    const c1 = Object.assign({ claim: 'An index on the W2 tables gives 5-10x', study: '5-10x' }, base);
    const c2 = Object.assign({ claim: 'Indexing gains more than changing the runtime', study: 'index gain > runtime gain' }, base);
    if (!ir) { c1.verdict = c2.verdict = CANNOT; c1.why = c2.why = 'no index_run (run without --no-index-run)'; }
    else if (!gains.length) { c1.verdict = c2.verdict = CANNOT; c1.why = c2.why = 'index_run has no cell with both with and without req/s'; }
    else {
      const mg = median(gains.map((p) => p[1]));
      c1.verdict = mg >= T.indexLo && mg <= T.indexHi ? HELD : NOT;
      c1.why = `with/without index ${gains.map((p) => `${p[0]} ${f.ratio(p[1])}`).join(', ')} (median ${f.ratio(mg)}) at ${ir.vus ?? '?'} VUs; held if the median is ${T.indexLo}-${T.indexHi}x; dropped ${arr(ir.dropped).join(', ') || 'not recorded'}`;
      const v = low(v2);
      const rt = v === undefined ? null : r('go', 'node', 'w2', v);
      if (rt === null) { c2.verdict = CANNOT; c2.why = why('no go/node W2 ratio to compare with', ...miss(['go', 'node'], 'w2', v)); }
      else {
        const rtg = Math.max(rt, 1 / rt);
        c2.verdict = mg > rtg ? HELD : NOT;
        c2.why = `median index gain ${f.ratio(mg)} vs runtime gain ${f.ratio(rtg)} (go/node W2${at(v)}); held if the index gain is larger`;
      }
    }
    add(c1); add(c2);
  }

  // 11. CPU work on the single loop blocks every other request
  {
    const mx = obj(m.experiments.mixed);
    const runs = mx ? arr(mx.runs).filter(obj) : [];
    const p99 = (run) => (run && obj(run.reads) ? num(run.reads.p99_ms) : null);
    const pair = (loopRun, poolRun, claim, who) => {
      const c = { claim, study: 'CPU work on the loop blocks every request' };
      const a = p99(loopRun), b = p99(poolRun);
      if (a !== null || b !== null) c[who] = `reads p99 ${msU(a)} (loop) vs ${msU(b)} (pool)`;
      if (a === null || b === null)
        Object.assign(c, { verdict: CANNOT, why: !mx ? 'no experiments.mixed (run without --no-experiments)' : `mixed runs missing or without reads p99: loop ${loopRun ? 'present' : 'absent'}, pool ${poolRun ? 'present' : 'absent'}` });
      else Object.assign(c, {
        verdict: a >= b * T.blockRel ? HELD : NOT,
        why: `reads p99 ${f.ratio(div(a, b))} with transforms on the loop vs on the pool${loopRun.lag_max_ms != null ? `; loop lag max ${f.ms(loopRun.lag_max_ms)} ms` : ''}; held if >= ${T.blockRel}x`,
      });
      add(c);
    };
    const lloop = runs.find((x) => String(x.impl).startsWith('looplab') && x.transform === 'loop' && num(x.workers) === 0)
      || runs.find((x) => String(x.impl).startsWith('looplab') && x.transform === 'loop');
    const lpool = runs.find((x) => String(x.impl).startsWith('looplab') && x.transform === 'pool' && lloop && num(x.workers) === num(lloop.workers))
      || runs.find((x) => String(x.impl).startsWith('looplab') && x.transform === 'pool');
    pair(lloop, lpool, 'Transforms on looplab\'s single loop block reads (workers=0)', 'looplab');
    // the runner runs the node peer twice (impl node, transform loop / pool); impl node-pool also counts as the pool side
    const nodeRun = (t) => runs.find((x) => x.impl === 'node' && x.transform === t)
      || runs.find((x) => String(x.impl).startsWith('node') && x.transform === t)
      || runs.find((x) => x.impl === (t === 'loop' ? 'node' : 'node-pool') && x.transform == null);
    const nloop = nodeRun('loop'), npool = nodeRun('pool');
    pair(nloop, npool, 'Transforms on Node\'s loop block reads (loop vs worker threads)', 'node');
  }

  return out;
}

module.exports = { claims, T, HELD, NOT, CANNOT };
