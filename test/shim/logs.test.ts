/**
 * The monitor's CRI log: 100,000 lines (long ones split into P parts, some without a newline) come back byte
 * for byte, in order, across a rotation (rename + ReopenLog) in mid-stream.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCriLines } from '../../src/shim/crilog';
import { requireShimTools, RUNTIMES, shBundle, ShimUnderTest, taskId, waitFor } from './helpers';
import { cleanupTempDirs } from '../helpers/oci';

requireShimTools();
// Last, after every block's shim.cleanup(): state dirs, bundles and the crun wrapper.
afterAll(() => cleanupTempDirs());

const LINES = 100000;
const CHUNKS = 10;
const SPLIT = 16384; // LOG_LINE_MAX in src/native/monitor.h

// One awk program per chunk, so that the stream lasts long enough to rotate the file in the middle of it.
const AWK = `BEGIN {
  l = "x"; while (length(l) < 40000) l = l l;
  for (i = c * ${LINES / CHUNKS}; i < (c + 1) * ${LINES / CHUNKS}; i++) {
    if (i % 1000 == 0) printf "long-%d-%s\\n", i, l;
    else if (i % 777 == 0) printf "nonl-%d|", i;
    else if (i % 10 == 3) printf "err-%d\\n", i > "/dev/stderr";
    else printf "line-%d\\n", i;
  }
}`;

function expected(): { stdout: string; stderr: string } {
  const l = 'x'.repeat(65536);
  const out: string[] = [];
  const err: string[] = [];
  for (let i = 0; i < LINES; i++) {
    if (i % 1000 === 0) out.push(`long-${i}-${l}\n`);
    else if (i % 777 === 0) out.push(`nonl-${i}|`);
    else if (i % 10 === 3) err.push(`err-${i}\n`);
    else out.push(`line-${i}\n`);
  }
  out.push('tail-without-newline');
  return { stdout: out.join(''), stderr: err.join('') };
}

describe.each(RUNTIMES)('CRI logs with %s', (_name, runtime) => {
  const shim = new ShimUnderTest();
  beforeAll(() => shim.start());
  afterAll(() => shim.cleanup());

  test('100,000 lines, split and unterminated ones, rotated mid-stream: every byte, in order', async () => {
    const c = shim.client;
    const id = taskId('log');
    const logPath = path.join(shim.stateDir, 'logs', `${id}.log`);
    const script = `for c in $(seq 0 ${CHUNKS - 1}); do awk -v c=$c '${AWK}'; sleep 0.2; done; printf tail-without-newline`;
    await c.create({ id, bundle: shBundle(script), runtime, logPath });
    await c.start({ id });
    const exited = c.wait({ id });
    // Rotate as kubelet does: rename, then ask for a reopen, while the container is still writing.
    await waitFor(() => fs.existsSync(logPath) && fs.statSync(logPath).size > 2_000_000, 20000, 'log output');
    fs.renameSync(logPath, `${logPath}.1`);
    await c.reopenLog({ id });
    const exit = await exited;
    expect(exit.exitCode).toBe(0);

    const first = fs.readFileSync(`${logPath}.1`);
    const second = fs.readFileSync(logPath);
    expect(second.length).toBeGreaterThan(0); // the rotation happened mid-stream
    const entries = [...parseCriLines(first), ...parseCriLines(second)];
    // Every line of the file is a CRI record.
    const raw = Buffer.concat([first, second]).toString('utf8');
    const records = raw.split('\n').filter((l) => l !== '');
    expect(records.length).toBe(entries.length);
    for (const r of records.slice(0, 50)) expect(r).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] /);
    let lastTime = '';
    for (const e of entries) {
      expect(e.content.length).toBeLessThanOrEqual(SPLIT);
      if (e.time < lastTime) throw new Error(`time went backwards: ${lastTime} then ${e.time}`);
      lastTime = e.time;
    }
    expect(entries.some((e) => e.partial && e.content.length === SPLIT)).toBe(true);
    const rebuilt = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    for (const e of entries) {
      rebuilt[e.stream].push(e.content);
      if (!e.partial) rebuilt[e.stream].push(Buffer.from('\n'));
    }
    const want = expected();
    const gotOut = Buffer.concat(rebuilt.stdout).toString();
    const gotErr = Buffer.concat(rebuilt.stderr).toString();
    // Compare sizes first: a failure then says how much was lost, not a 7 MB diff.
    expect(gotOut.length).toBe(want.stdout.length);
    expect(gotErr.length).toBe(want.stderr.length);
    expect(gotOut === want.stdout).toBe(true);
    expect(gotErr === want.stderr).toBe(true);
    await c.delete({ id });
  });
});

describe.each(RUNTIMES)('OOM with %s', (_name, runtime) => {
  const shim = new ShimUnderTest();
  beforeAll(() => shim.start());
  afterAll(() => shim.cleanup());

  test('a container over its memory limit is reported OOM-killed with exit code 137', async () => {
    const c = shim.client;
    const id = taskId('oom');
    const limit = 32 * 1024 * 1024;
    const events: string[] = [];
    const off = c.events((e) => { if (e.id === id) events.push(e.type); });
    // dd's 256 MiB buffer, filled from /dev/zero, cannot fit (no swap: memsw limited too).
    const bundle = shBundle('exec dd if=/dev/zero of=/dev/null bs=256M count=1', (s) => {
      s.linux!.resources = { ...s.linux!.resources, memory: { limit, swap: limit } };
    });
    await c.create({ id, bundle, runtime });
    await c.start({ id });
    const exit = await c.wait({ id });
    expect(exit).toMatchObject({ exitCode: 137, oomKilled: true });
    expect(await c.state({ id })).toMatchObject({ status: 'stopped', exitCode: 137, oomKilled: true });
    await new Promise((r) => setTimeout(r, 100));
    off();
    expect(events).toEqual(expect.arrayContaining(['oom', 'exit']));
    await c.delete({ id });
  });

  test('a container killed with SIGKILL is not reported OOM-killed', async () => {
    const c = shim.client;
    const id = taskId('oom');
    await c.create({ id, bundle: shBundle('sleep 100', (s) => { s.linux!.resources = { ...s.linux!.resources, memory: { limit: 32 << 20 } }; }), runtime });
    await c.start({ id });
    await c.kill({ id, signal: 9 });
    expect(await c.wait({ id })).toMatchObject({ exitCode: 137, oomKilled: false });
    await c.delete({ id });
  });
});
