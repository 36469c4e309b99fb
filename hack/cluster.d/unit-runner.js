#!/usr/bin/env node
// The service manager of a hack/cluster node: one runner per unit, standing in for systemd (there is none as PID 1
// here). It reads a unit file and its drop-ins the way systemd does — [Service] Environment=, EnvironmentFile=,
// ExecStart=, Restart=, RestartSec=, TimeoutStopSec= — and re-reads them, environment files included, every time
// it starts the service, so a rewritten kubeadm-flags.env takes effect on the next restart exactly as on a real
// node. The unit's output goes to the runner's stdout (the unit's log file).
//
// Usage: unit-runner.js UNIT_FILE STATE_DIR
// Signals (what the node's systemctl sends): HUP restart, USR1 stop, USR2 start, TERM/INT stop and exit.
// STATE_DIR/<unit>.state holds "active PID", "activating", "inactive" or "failed CODE"; <unit>.runner.pid the
// runner's own pid.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const [unitFile, stateDir] = process.argv.slice(2);
if (!unitFile || !stateDir || unitFile === '--help' || unitFile === '-h') {
  console.error('usage: unit-runner.js UNIT_FILE STATE_DIR');
  process.exit(unitFile === '--help' || unitFile === '-h' ? 0 : 2);
}
const unitName = path.basename(unitFile, '.service');
const log = (msg, extra = {}) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', unit: unitName, msg, ...extra })}\n`);

/** systemd's word splitting of a value: whitespace separates, double and single quotes group, backslash escapes. */
function splitWords(text) {
  const words = [];
  let cur = null;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur = cur ?? '';
    } else if (c === '\\' && i + 1 < text.length) {
      cur = (cur ?? '') + text[++i];
    } else if (/\s/.test(c)) {
      if (cur !== null) words.push(cur);
      cur = null;
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (quote) throw new Error(`unbalanced quote in ${JSON.stringify(text)}`);
  if (cur !== null) words.push(cur);
  return words;
}

/** One unit: the unit file, then UNIT.d/*.conf in name order; later assignments win, an empty ExecStart= resets. */
function readUnit(file) {
  // Units live in <host root>/etc/systemd/system.
  const hostRoot = path.resolve(path.dirname(file), '../../..');
  const unit = { hostRoot, environment: [], environmentFiles: [], execStart: [], restart: 'no', restartSec: 0.1, timeoutStopSec: 90 };
  const dropInDir = `${file}.d`;
  const files = [file];
  if (fs.existsSync(dropInDir)) files.push(...fs.readdirSync(dropInDir).filter((n) => n.endsWith('.conf')).sort().map((n) => path.join(dropInDir, n)));
  for (const f of files) {
    let section = '';
    for (const raw of fs.readFileSync(f, 'utf8').replace(/\\\n/g, ' ').split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#') || line.startsWith(';')) continue;
      if (line.startsWith('[')) {
        section = line;
        continue;
      }
      if (section !== '[Service]') continue;
      const eq = line.indexOf('=');
      if (eq < 0) throw new Error(`${f}: not KEY=VALUE: ${line}`);
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim();
      switch (key) {
        case 'Environment':
          if (value === '') unit.environment = [];
          else unit.environment.push(...splitWords(value));
          break;
        case 'EnvironmentFile':
          if (value === '') unit.environmentFiles = [];
          else unit.environmentFiles.push(value);
          break;
        case 'ExecStart':
          unit.execStart = value === '' ? [] : [value];
          break;
        case 'Restart': unit.restart = value; break;
        case 'RestartSec': unit.restartSec = parseFloat(value); break;
        case 'TimeoutStopSec': unit.timeoutStopSec = parseFloat(value); break;
        default: break; // other directives mean nothing here
      }
    }
  }
  if (unit.execStart.length === 0) throw new Error(`${file}: no ExecStart=`);
  return unit;
}

/** An EnvironmentFile: KEY=VALUE lines, # comments, values optionally quoted (no shell expansion, as systemd). */
function readEnvironmentFile(file) {
  const out = {};
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}

/** ExecStart with systemd's expansion: ${VAR} is one word, a bare $VAR word splits into words at whitespace. */
/**
 * A path a unit names, in the node's host root: a node's units name host paths (/var/lib/kubelet/…) as on a
 * real node, where the agent's migration reads and rewrites them; a path already under the host root is kept.
 */
function onHost(hostRoot, file) {
  return file === hostRoot || file.startsWith(`${hostRoot}/`) ? file : path.join(hostRoot, file);
}

function commandLine(unit) {
  const env = {};
  for (const assignment of unit.environment) {
    const eq = assignment.indexOf('=');
    if (eq > 0) env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  for (const entry of unit.environmentFiles) {
    const optional = entry.startsWith('-');
    const file = onHost(unit.hostRoot, optional ? entry.slice(1) : entry);
    if (!fs.existsSync(file)) {
      if (optional) continue;
      throw new Error(`EnvironmentFile ${file} does not exist`);
    }
    Object.assign(env, readEnvironmentFile(file));
  }
  const argv = [];
  for (const word of splitWords(unit.execStart[0])) {
    const bare = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (bare) {
      argv.push(...(env[bare[1]] ?? '').split(/\s+/).filter(Boolean));
      continue;
    }
    argv.push(word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, n) => env[n] ?? ''));
  }
  return { argv, env };
}

const stateFile = path.join(stateDir, `${unitName}.state`);
function setState(text) {
  fs.writeFileSync(`${stateFile}.tmp`, `${text}\n`);
  fs.renameSync(`${stateFile}.tmp`, stateFile);
}

let child = null;
let wanted = true; // whether the service should be running
let exiting = false;
let restartTimer = null;

function start() {
  if (child || exiting) return;
  clearTimeout(restartTimer);
  setState('activating');
  let unit;
  let cmd;
  try {
    unit = readUnit(unitFile);
    cmd = commandLine(unit);
  } catch (err) {
    log('cannot start', { error: err.message });
    setState('failed config');
    return;
  }
  log('starting', { argv: cmd.argv });
  const c = spawn(cmd.argv[0], cmd.argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...cmd.env } });
  child = c;
  c.on('error', (err) => log('spawn failed', { error: err.message }));
  if (c.pid) setState(`active ${c.pid}`);
  c.on('exit', (code, signal) => {
    child = null;
    log('exited', { code, signal });
    if (exiting) process.exit(0);
    const failed = code !== 0;
    setState(wanted ? 'activating' : failed ? `failed ${code ?? signal}` : 'inactive');
    if (wanted && (unit.restart === 'always' || (unit.restart === 'on-failure' && failed))) {
      restartTimer = setTimeout(start, unit.restartSec * 1000);
    } else {
      wanted = false;
      setState(failed ? `failed ${code ?? signal}` : 'inactive');
    }
  });
}

/** SIGTERM to the main process, SIGKILL after TimeoutStopSec (KillMode=process: a containerd's shims live on). */
function stop(then) {
  clearTimeout(restartTimer);
  if (!child) {
    setState('inactive');
    then();
    return;
  }
  let timeout = 90;
  try {
    timeout = readUnit(unitFile).timeoutStopSec;
  } catch { /* keep the default */ }
  const c = child;
  const killer = setTimeout(() => c.kill('SIGKILL'), timeout * 1000);
  c.once('exit', () => {
    clearTimeout(killer);
    setState('inactive');
    setImmediate(then);
  });
  c.kill('SIGTERM');
}

fs.mkdirSync(stateDir, { recursive: true });
fs.writeFileSync(path.join(stateDir, `${unitName}.runner.pid`), `${process.pid}\n`);
// A stopped unit leaves the runner nothing to wait on, and signal handlers alone do not keep Node running: the
// runner must outlive its service until systemctl starts it again (or hack/cluster down stops the runner).
setInterval(() => undefined, 2 ** 30);
process.on('SIGHUP', () => { wanted = true; stop(start); });
process.on('SIGUSR1', () => { wanted = false; stop(() => undefined); });
process.on('SIGUSR2', () => { wanted = true; start(); });
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    wanted = false;
    stop(() => {
      exiting = true;
      fs.rmSync(path.join(stateDir, `${unitName}.runner.pid`), { force: true });
      setState('inactive');
      process.exit(0);
    });
  });
}
start();
