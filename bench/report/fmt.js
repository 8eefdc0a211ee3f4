'use strict';
// Number formatting and Markdown tables for the report. Everything here is
// locale-independent so the same results.json always gives the same bytes.

const MB = 1024 * 1024; // "MB" in the report is 2^20 bytes

// A finite number, or null (missing, null, NaN, strings, ...).
function num(x) {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

function group(intStr) {
  const neg = intStr.startsWith('-');
  const s = neg ? intStr.slice(1) : intStr;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && (s.length - i) % 3 === 0) out += ',';
    out += s[i];
  }
  return (neg ? '-' : '') + out;
}

// Significant digits without exponent notation.
function sig(v, digits) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 10 ** digits) return group(String(Math.round(v)));
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(a)));
  return v.toFixed(Math.min(decimals, 6)).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

const DASH = '–'; // shown for "not measured"

function rps(v) {
  v = num(v);
  if (v === null) return DASH;
  if (Math.abs(v) >= 100) return group(String(Math.round(v)));
  return sig(v, 3);
}

function ms(v) {
  v = num(v);
  if (v === null) return DASH;
  if (Math.abs(v) >= 100) return group(String(Math.round(v)));
  return sig(v, 3);
}

// One decimal with thousands separators, from the rounded tenths.
function mb1(bytes) {
  bytes = num(bytes);
  if (bytes === null) return DASH;
  const tenths = Math.round(Math.abs(bytes / MB) * 10);
  return (bytes < 0 ? '-' : '') + group(String(Math.floor(tenths / 10))) + '.' + String(tenths % 10);
}

function ratio(v) {
  v = num(v);
  if (v === null) return DASH;
  return v.toFixed(2) + 'x';
}

function pct(v) { // v is a fraction
  v = num(v);
  if (v === null) return DASH;
  const p = v * 100;
  return (Math.abs(p) < 10 ? p.toFixed(1) : String(Math.round(p))) + ' %';
}

function int(v) {
  v = num(v);
  if (v === null) return DASH;
  return group(String(Math.round(v)));
}

function us(v) { // microseconds
  v = num(v);
  if (v === null) return DASH;
  if (Math.abs(v) >= 100) return group(String(Math.round(v)));
  return sig(v, 3);
}

// Divide two possibly-missing figures.
function div(a, b) {
  a = num(a); b = num(b);
  if (a === null || b === null || b === 0) return null;
  return a / b;
}

function median(xs) {
  const v = xs.map(num).filter((x) => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Markdown table cell text: one line, pipes escaped.
function cell(x) {
  if (x === null || x === undefined) return DASH;
  return String(x).replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

function code(s) {
  if (s === null || s === undefined || s === '') return DASH;
  s = String(s).replace(/\r?\n/g, ' ');
  const fence = s.includes('`') ? '``' : '`';
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return fence + pad + s + pad + fence;
}

function table(headers, rows, align) {
  const n = headers.length;
  const lines = [];
  lines.push('| ' + headers.map(cell).join(' | ') + ' |');
  lines.push('|' + headers.map((_, i) => ((align && align[i]) === 'r' ? '---:' : '---')).join('|') + '|');
  for (const r of rows) {
    if (r.length !== n) throw new Error(`table row has ${r.length} cells, header has ${n}: ${JSON.stringify(r)}`);
    lines.push('| ' + r.map(cell).join(' | ') + ' |');
  }
  return lines.join('\n') + '\n';
}

// Count a table line's cells the way GitHub does: split on every unescaped
// pipe (GFM splits inside code spans too, so cell() escapes all of them).
function countCells(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  let n = 1;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') { i++; continue; }
    if (s[i] === '|') n++;
  }
  return n;
}

// Every Markdown table in text: header, separator of the same width, rows of
// the same width. Throws on the first malformed one.
function checkTables(text) {
  const lines = text.split('\n');
  let i = 0, tables = 0;
  while (i < lines.length) {
    if (!lines[i].startsWith('|')) { i++; continue; }
    const start = i;
    const w = countCells(lines[i]);
    const sep = lines[i + 1] || '';
    if (!/^\|(\s*:?-{3,}:?\s*\|)+$/.test(sep) || countCells(sep) !== w)
      throw new Error(`markdown self-check: table at line ${start + 1} has no separator of ${w} columns`);
    i += 2;
    while (i < lines.length && lines[i].startsWith('|')) {
      const c = countCells(lines[i]);
      if (c !== w) throw new Error(`markdown self-check: line ${i + 1} has ${c} cells, its header ${w}: ${lines[i]}`);
      i++;
    }
    if (i < lines.length && lines[i].trim() !== '')
      throw new Error(`markdown self-check: table ending at line ${i} is not followed by a blank line`);
    tables++;
  }
  return tables;
}

module.exports = { MB, num, group, sig, DASH, rps, ms, mb: mb1, ratio, pct, int, us, div, median, cell, code, table, checkTables, countCells };
