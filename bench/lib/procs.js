'use strict'
// Processes of a benchmark run: servers started in their own process group
// and stopped by pid (then the group, so no worker is left behind), load
// runs, free ports, readiness. Every child is tracked in `live` so that
// Ctrl-C can kill whatever is running.
const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const net = require('node:net')

const live = new Set()

function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function get (url, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }))
      res.on('error', () => resolve({ status: 0, body: '' }))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve({ status: 0, body: '' }))
  })
}

function exitOf (child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', resolve))
}

// Starts `cmd args` with env added to ours, output to logFile, in its own
// process group; resolves once GET readyUrl answers 200.
async function startServer ({ cmd, args, env, logFile, readyUrl, timeoutS = 90 }) {
  const out = fs.openSync(logFile, 'a')
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
    detached: true
  })
  fs.closeSync(out)
  live.add(child)
  child.once('exit', () => live.delete(child))
  const t0 = Date.now()
  while (Date.now() - t0 < timeoutS * 1000) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${cmd} exited (${child.exitCode ?? child.signalCode}) before it was ready; see ${logFile}`)
    }
    const r = await get(readyUrl, 1000)
    if (r.status === 200) return child
    await sleep(100)
  }
  await stop(child)
  throw new Error(`${cmd} was not ready within ${timeoutS} s; see ${logFile}`)
}

// SIGTERM to the leader (it drains its workers), SIGKILL to the whole
// group after graceS, and the group once more for anything it orphaned.
async function stop (child, graceS = 15) {
  if (!child) return
  const pid = child.pid
  try { process.kill(pid, 'SIGTERM') } catch {}
  const done = exitOf(child)
  const late = await Promise.race([done.then(() => false), sleep(graceS * 1000).then(() => true)])
  if (late) {
    try { process.kill(-pid, 'SIGKILL') } catch {}
    await done
  }
  try { process.kill(-pid, 'SIGKILL') } catch {}
  live.delete(child)
}

// Runs a command to its end; resolves {code, stdout, stderr}. Tracked, so
// Ctrl-C stops it too.
function run (cmd, args, { env, input } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    live.add(child)
    const out = []
    const err = []
    child.stdout.on('data', (c) => out.push(c))
    child.stderr.on('data', (c) => err.push(c))
    child.on('error', (e) => err.push(Buffer.from(String(e))))
    child.on('close', (code, signal) => {
      live.delete(child)
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
    })
    if (input) child.stdin.end(input)
    else child.stdin.end()
  })
}

function killAll () {
  for (const child of live) {
    try { process.kill(-child.pid, 'SIGKILL') } catch {}
    try { child.kill('SIGKILL') } catch {}
  }
}

function sh (cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

module.exports = { freePort, sleep, get, startServer, stop, run, killAll, sh, live }
