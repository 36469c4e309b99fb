// Processes and ports of a cluster: unit runners started detached (they outlive `hack/cluster up`), recognised
// again by pid and start time (pids are reused), stopped in order; free TCP ports on 127.0.0.1.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const RUNNER = path.join(__dirname, 'unit-runner.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Clock ticks since boot at which `pid` started, or undefined when there is no such process. */
function startTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}

/** True while the recorded process (pid + start time) still runs and is not a zombie. */
function alive(proc) {
  try {
    const stat = fs.readFileSync(`/proc/${proc.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]) === proc.start && fields[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Starts the unit runner for `unitFile` in its own session, its output appended to `logFile`; returns the
 * runner as { pid, start } once it has written its state (or throws with the log's tail).
 */
async function startUnit(unitFile, stateDir, logFile, env = {}) {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  let child;
  try {
    child = spawn(process.execPath, [RUNNER, unitFile, stateDir], {
      detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env },
    });
  } finally {
    fs.closeSync(fd);
  }
  child.unref();
  const unit = path.basename(unitFile, '.service');
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(path.join(stateDir, `${unit}.state`))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the runner of ${unit} did not start:\n${tail(logFile)}`);
    await sleep(20);
  }
  return { pid: child.pid, start: startTime(child.pid) };
}

/** The unit's state line: "active PID", "activating", "inactive", "failed …". */
function unitState(stateDir, unit) {
  try {
    return fs.readFileSync(path.join(stateDir, `${unit}.state`), 'utf8').trim();
  } catch {
    return 'inactive';
  }
}

function tail(file, bytes = 3000) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '(no log)';
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
async function stopProcess(proc, graceMs = 15_000) {
  if (!alive(proc)) return;
  try { process.kill(proc.pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (alive(proc) && Date.now() < deadline) await sleep(50);
  if (alive(proc)) {
    try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
    const hard = Date.now() + 5000;
    while (alive(proc) && Date.now() < hard) await sleep(50);
  }
}

/** Every process whose command line or environment mentions `needle` (a cluster's own directory). */
function processesMentioning(needle) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (!text.includes(needle)) text += fs.readFileSync(`/proc/${name}/environ`, 'utf8');
    } catch {
      continue;
    }
    if (text.includes(needle)) {
      const start = startTime(Number(name));
      if (start !== undefined) out.push({ pid: Number(name), start });
    }
  }
  return out;
}

/** `count` distinct TCP ports free on 127.0.0.1 right now (the kernel picks them; all are held until the end). */
async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = net.createServer();
      await new Promise((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', resolve); });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

module.exports = { startUnit, unitState, stopProcess, alive, startTime, processesMentioning, freePorts, tail, sleep };
