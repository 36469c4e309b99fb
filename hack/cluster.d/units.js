// Unit files for the unit runner (unit-runner.js): the same format systemd reads, so a node's services look and
// change the way they would on a real node.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { startUnit, unitState, sleep, tail } = require('./procs');

/** One word of ExecStart=, quoted when it holds whitespace or quotes. */
const word = (w) => (/[\s"'\\$]/.test(w) ? `"${w.replace(/(["\\])/g, '\\$1')}"` : w);

/**
 * Writes `unitsDir`/`name`.service. `exec` is the command line: an array of words, or a string taken as is
 * (for $VARIABLE expansion from the unit's environment).
 */
function writeUnit(unitsDir, name, { description, exec, restart = 'always', restartSec = 1, timeoutStopSec = 30, extra = [] }) {
  fs.mkdirSync(unitsDir, { recursive: true });
  const execStart = Array.isArray(exec) ? exec.map(word).join(' ') : exec;
  const file = path.join(unitsDir, `${name}.service`);
  fs.writeFileSync(file, [
    '[Unit]', `Description=${description}`, '',
    '[Service]', `ExecStart=${execStart}`, `Restart=${restart}`, `RestartSec=${restartSec}`, `TimeoutStopSec=${timeoutStopSec}`,
    ...extra, '', '[Install]', 'WantedBy=multi-user.target', '',
  ].join('\n'));
  return file;
}

/**
 * Starts the unit's runner and waits until `ready()` resolves true (polled), or throws with the unit's log.
 * Returns the runner { pid, start }.
 */
async function runUnit({ unitsDir, stateDir, logDir, name, ready, timeoutMs = 60_000, env }) {
  const log = path.join(logDir, `${name}.log`);
  const runner = await startUnit(path.join(unitsDir, `${name}.service`), stateDir, log, env);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = unitState(stateDir, name);
    if (state.startsWith('failed')) throw new Error(`${name} failed (${state}):\n${tail(log)}`);
    if (state.startsWith('active') && (!ready || (await ready()))) return runner;
    if (Date.now() > deadline) throw new Error(`${name} was not ready within ${timeoutMs / 1000} s (${state}):\n${tail(log)}`);
    await sleep(200);
  }
}

module.exports = { writeUnit, runUnit };
