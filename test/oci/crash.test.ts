/**
 * Crash safety of berth-run: a `create` killed with SIGKILL at any point, a container init killed between
 * create and start, concurrent creates of one id. Afterwards `state` answers promptly, `delete --force`
 * removes everything (state dir, cgroups, processes, mounts), and the id can be used again. Root, real kernel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Spec } from '../../src/oci/spec/types';
import {
  BERTH_RUN, RuntimeCli, cgroupDirsMatching, cleanupTempDirs, eventually, killPids, makeBundle, mountsMatching,
  processGone, processesMatching, processesWithEnv, requireTools, tempDir, uniqueId,
} from '../helpers/oci';

const cli = new RuntimeCli('berth-run');
const MARK = 'BERTH_TEST_MARK';
let marker = '';
const children: ChildProcess[] = [];
/** Ids created by spawned (not `cli`) commands: deleted after each test like `cli`'s own. */
const spawnedIds = new Set<string>();

beforeAll(() => requireTools('runc'));
beforeEach(() => {
  marker = `${MARK}=${uniqueId('crash')}`;
  process.env[MARK] = marker.slice(MARK.length + 1);
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null && c.pid) killPids([c.pid]);
  cli.cleanup();
  for (const id of spawnedIds) cli.run(['delete', '--force', id]);
  spawnedIds.clear();
  killPids(processesWithEnv(marker));
});
afterAll(() => {
  delete process.env[MARK];
  cleanupTempDirs();
});

interface Record_ { pid: number; creator?: { pid: number }; cgroupPaths: Record<string, string> }

const stateFile = (id: string) => path.join(cli.root, id, 'state.json');

/** `berth-run create` in the background; stdio goes nowhere (a created container keeps it open). */
function spawnCreate(bundle: string, id: string): { child: ChildProcess; exited: Promise<number> } {
  const child = spawn(BERTH_RUN, ['--root', cli.root, 'create', '--bundle', bundle, id], { stdio: 'ignore' });
  children.push(child);
  spawnedIds.add(id);
  const exited = new Promise<number>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 + 9 : 1))));
  return { child, exited };
}

/**
 * Polls state.json without yielding (the create runs in another process) until `want` holds for the record.
 * Every read of an existing state.json must parse: a torn write would show up here.
 */
function pollRecord(id: string, want: (r: Record_) => boolean, timeoutMs: number): Record_ | undefined {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    let text: string;
    try {
      text = fs.readFileSync(stateFile(id), 'utf8');
    } catch {
      continue;
    }
    const record = JSON.parse(text) as Record_; // throws on a partial file: the test fails
    if (want(record)) return record;
  }
  return undefined;
}

/** Temp files of the atomic writes: none may be left in the container directory. */
function tempFiles(id: string): string[] {
  const dir = path.join(cli.root, id);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.startsWith('.') || n.endsWith('.tmp')) : [];
}

function expectNothingLeft(id: string, extra: { sleepTag?: string; rootfs?: string } = {}): void {
  expect(fs.existsSync(path.join(cli.root, id))).toBe(false);
  expect(cgroupDirsMatching(id)).toEqual([]);
  expect(mountsMatching(id)).toEqual([]);
  if (extra.rootfs) expect(mountsMatching(extra.rootfs)).toEqual([]);
  expect(processesWithEnv(marker)).toEqual([]);
  if (extra.sleepTag) expect(processesMatching(extra.sleepTag)).toEqual([]);
}

/** After a crash: state answers quickly, delete --force cleans up, and the id works again. */
async function expectRecoverable(id: string, bundle: string, sleepTag?: string): Promise<void> {
  const t0 = Date.now();
  const st = cli.run(['state', id], { timeoutMs: 5000 });
  expect(Date.now() - t0).toBeLessThan(5000);
  if (st.status === 0) expect(['creating', 'created', 'stopped']).toContain(JSON.parse(st.stdout).status);
  else expect(st.stderr).toMatch(/does not exist/);
  cli.ok(['delete', '--force', id], { timeoutMs: 15000 });
  // berth-init of a create killed before it joined the cgroup notices the closed socket and exits by itself.
  await eventually(() => processesWithEnv(marker).length === 0, 5000, 'the helper processes to exit');
  expectNothingLeft(id, { sleepTag });

  cli.ok(['create', '--bundle', bundle, id]);
  expect(cli.state(id).status).toBe('created');
  cli.ok(['delete', '--force', id]);
  expectNothingLeft(id, { sleepTag });
}

describe('kill -9 of `berth-run create`', () => {
  test('once state.json exists with pid 0', async () => {
    const id = uniqueId('k0');
    const bundle = makeBundle((s) => { s.process!.args = ['true']; });
    let seen: Record_ | undefined;
    // The pid-0 window is short: retry until the poll catches it (it nearly always does at once).
    for (let attempt = 0; attempt < 5 && !seen; attempt++) {
      const { child, exited } = spawnCreate(bundle, id);
      seen = pollRecord(id, () => true, 10000);
      child.kill('SIGKILL');
      await exited;
      if (seen && seen.pid !== 0) seen = undefined;
      if (!seen) {
        cli.ok(['delete', '--force', id]);
        await eventually(() => processesWithEnv(marker).length === 0, 5000, 'helpers of the missed attempt');
      }
    }
    expect(seen).toMatchObject({ pid: 0, creator: expect.objectContaining({ pid: expect.any(Number) }) });
    await expectRecoverable(id, bundle);
  });

  test('once the record has the init pid (while a createContainer hook runs)', async () => {
    const id = uniqueId('k1');
    const sleepTag = `${1 + Math.random()}`.slice(0, 9);
    const bundle = makeBundle((s) => {
      s.process!.args = ['true'];
      s.hooks = { createContainer: [{ path: '/bin/sleep', args: ['sleep', sleepTag] }] };
    });
    const { child, exited } = spawnCreate(bundle, id);
    const seen = pollRecord(id, (r) => r.pid > 0, 10000);
    expect(seen).toBeDefined();
    expect(seen!.creator).toBeDefined();
    await eventually(() => processesMatching(`sleep ${sleepTag}`).length > 0, 5000, 'the hook');
    child.kill('SIGKILL');
    await exited;
    expect(processGone(seen!.pid)).toBe(false);
    // berth-run is gone for good: the half-made container can never start, so it is stopped (not "created").
    expect(JSON.parse(cli.ok(['state', id], { timeoutMs: 5000 }).stdout).status).toBe('stopped');
    const start = cli.run(['start', id], { timeoutMs: 5000 });
    expect(start.status).not.toBe(0);
    expect(start.stderr).toMatch(/cannot start a container that has stopped|not waiting to start/);
    await expectRecoverable(id, bundle, `sleep ${sleepTag}`);
    expect(processGone(seen!.pid)).toBe(true);
  });

  test('at several moments during create (a sweep of delays)', async () => {
    const id = uniqueId('ksweep');
    const bundle = makeBundle((s) => { s.process!.args = ['true']; });
    for (const delayMs of [5, 70, 150]) {
      const { child, exited } = spawnCreate(bundle, id);
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      await exited;
      if (fs.existsSync(stateFile(id))) JSON.parse(fs.readFileSync(stateFile(id), 'utf8'));
      cli.run(['state', id], { timeoutMs: 5000 });
      cli.ok(['delete', '--force', id], { timeoutMs: 15000 });
      await eventually(() => processesWithEnv(marker).length === 0, 5000, `helpers after a kill at ${delayMs} ms`);
      expectNothingLeft(id);
    }
    await expectRecoverable(id, bundle);
  });

  test('right as create finishes, and after create returned (between create and start)', async () => {
    const id = uniqueId('kdone');
    const bundle = makeBundle((s) => { s.process!.args = ['true']; });
    const { child, exited } = spawnCreate(bundle, id);
    const seen = pollRecord(id, (r) => r.pid > 0 && !r.creator, 10000);
    child.kill('SIGKILL');
    await exited;
    expect(seen).toBeDefined();
    expect(cli.state(id)).toMatchObject({ status: 'created', pid: seen!.pid });
    await expectRecoverable(id, bundle);

    cli.ok(['create', '--bundle', bundle, id]);
    const { pid } = cli.state(id);
    cli.ok(['delete', '--force', id]);
    expect(processGone(pid)).toBe(true);
    expectNothingLeft(id);
  });
});

describe('the container init dies while created', () => {
  test('kill -9 of the init: state says stopped, delete without --force succeeds', async () => {
    const id = uniqueId('initdead');
    cli.ok(['create', '--bundle', makeBundle((s) => { s.process!.args = ['true']; }), id]);
    const { pid } = cli.state(id);
    process.kill(pid, 'SIGKILL');
    await eventually(() => JSON.parse(cli.ok(['state', id]).stdout).status === 'stopped', 5000, 'stopped');
    const st = cli.state(id);
    expect(st.status).toBe('stopped');
    const start = cli.run(['start', id]);
    expect(start.status).not.toBe(0);
    expect(start.stderr).toMatch(/stopped/);
    cli.ok(['delete', id]);
    expectNothingLeft(id);
  });
});

describe('state writes are atomic', () => {
  test('no temp files in the container directory after each operation; state.json always parses', async () => {
    const id = uniqueId('atomic');
    const clean = () => {
      expect(tempFiles(id)).toEqual([]);
      JSON.parse(fs.readFileSync(stateFile(id), 'utf8'));
      JSON.parse(fs.readFileSync(path.join(cli.root, id, 'config.json'), 'utf8'));
    };
    cli.ok(['create', '--bundle', makeBundle((s: Spec) => { s.process!.args = ['sleep', '60']; }), id]);
    clean();
    cli.ok(['start', id]);
    clean();
    cli.ok(['pause', id]);
    clean();
    cli.ok(['resume', id]);
    clean();
    cli.ok(['update', '--pids-limit', '40', id]);
    clean();
    expect(fs.readFileSync(path.join(cli.root, id, 'config.json'), 'utf8')).toMatch(/"pids":\{"limit":40\}/);
    cli.ok(['kill', id, 'KILL']);
    await eventually(() => cli.state(id).status === 'stopped', 5000, 'stopped');
    clean();
    cli.ok(['delete', id]);
    expectNothingLeft(id);
  });
});

describe('concurrent creates of one id', () => {
  test('exactly one succeeds, the other fails with "exists", and the winner is intact', async () => {
    const id = uniqueId('race');
    const out = tempDir('berth-out-');
    const bundle = makeBundle((s) => {
      s.process!.args = ['sh', '-c', 'echo ran > /out/ran'];
      s.mounts!.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
    });
    for (let round = 0; round < 2; round++) {
      const errs = [path.join(out, `err-${round}-a`), path.join(out, `err-${round}-b`)];
      const runs = errs.map((errFile) => {
        const fd = fs.openSync(errFile, 'w');
        const child = spawn(BERTH_RUN, ['--root', cli.root, 'create', '--bundle', bundle, id], { stdio: ['ignore', 'ignore', fd] });
        spawnedIds.add(id);
        fs.closeSync(fd);
        children.push(child);
        return new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 137)));
      });
      const codes = await Promise.all(runs);
      expect(codes.filter((c) => c === 0)).toHaveLength(1);
      const loser = codes.findIndex((c) => c !== 0);
      expect(fs.readFileSync(errs[loser], 'utf8')).toMatch(new RegExp(`container with id exists: ${id}`));
      expect(tempFiles(id)).toEqual([]);

      const st = cli.state(id);
      expect(st.status).toBe('created');
      expect(cgroupDirsMatching(id).length).toBeGreaterThan(0);
      cli.ok(['start', id]);
      await eventually(() => fs.existsSync(path.join(out, 'ran')), 5000, 'the winner to run');
      await eventually(() => cli.state(id).status === 'stopped', 5000, 'stopped');
      cli.ok(['delete', id]);
      expectNothingLeft(id);
      fs.rmSync(path.join(out, 'ran'));
    }
  });
});
