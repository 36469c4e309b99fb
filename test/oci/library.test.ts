/**
 * The berth-run library in-process, as berth-shim and berthd use it, with and without berth-spawner: the
 * same containers must come out either way, and the spawner must leave nothing behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Runtime } from '../../src/oci/runtime/runtime';
import { BerthError } from '../../src/common/errors';
import { cgroupDirsMatching, cleanupTempDirs, eventually, makeBundle, processGone, tempDir, uniqueId } from '../helpers/oci';

const SPAWNER = path.resolve(__dirname, '..', '..', 'build', 'bin', 'berth-spawner');

/** Pids of berth-spawner processes whose parent is this jest worker. */
function mySpawners(): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readlinkSync(`/proc/${name}/exe`) !== SPAWNER) continue;
      const ppid = /PPid:\s+(\d+)/.exec(fs.readFileSync(`/proc/${name}/status`, 'utf8'))?.[1];
      if (Number(ppid) === process.pid) out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function outputFile(dir: string): { fd: number; read: () => string } {
  const file = path.join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const fd = fs.openSync(file, 'w+');
  return { fd, read: () => fs.readFileSync(file, 'utf8') };
}

afterAll(cleanupTempDirs);

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('these tests need root');
  if (!fs.existsSync(SPAWNER)) throw new Error(`${SPAWNER} is missing: run npm run build`);
});

describe.each([
  ['directly', false],
  ['through berth-spawner', true],
])('library %s', (_how, spawner) => {
  let runtime: Runtime;
  let root: string;
  let scratch: string;

  beforeAll(() => {
    root = tempDir('berth-lib-root-');
    scratch = tempDir('berth-lib-out-');
    runtime = new Runtime({ root, spawner });
  });

  afterAll(async () => {
    for (const c of runtime.list()) await runtime.delete(c.id, true).catch(() => undefined);
    runtime.close();
    await eventually(() => mySpawners().length === 0, 5000, 'berth-spawner to exit');
    expect(fs.readdirSync(root).filter((f) => f.startsWith('.spawner-'))).toEqual([]);
  });

  test('run: exit status and output through fds given by number', async () => {
    const out = outputFile(scratch);
    const bundle = makeBundle((s) => { s.process!.args = ['sh', '-c', 'echo hello from $(hostname); exit 7']; s.hostname = 'libtest'; });
    const id = uniqueId('librun');
    const code = await runtime.run(id, { bundle, stdio: ['ignore', out.fd, out.fd] });
    fs.closeSync(out.fd);
    expect(code).toBe(7);
    expect(out.read()).toBe('hello from libtest\n');
    expect(fs.existsSync(path.join(root, id))).toBe(false);
    expect(cgroupDirsMatching(id)).toEqual([]);
    if (spawner) expect(mySpawners()).toHaveLength(1);
    else expect(mySpawners()).toHaveLength(0);
  });

  test('create, start, exec, kill, delete', async () => {
    const bundle = makeBundle((s) => { s.process!.args = ['sleep', '30']; });
    const id = uniqueId('libseq');
    const state = await runtime.create(id, { bundle, stdio: ['ignore', 'ignore', 'ignore'] });
    expect(state.status).toBe('created');
    await runtime.start(id);
    expect(runtime.state(id).status).toBe('running');
    const out = outputFile(scratch);
    const exec = await runtime.exec(id, { args: ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; exit 3'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } }, { stdio: ['ignore', out.fd, out.fd] });
    expect(await exec.exited).toBe(3);
    fs.closeSync(out.fd);
    expect(out.read()).toBe('sleep 30 ');
    const pid = runtime.state(id).pid!;
    await runtime.kill(id, 'SIGKILL');
    await eventually(() => processGone(pid), 5000, 'the container to die');
    await runtime.delete(id);
    expect(cgroupDirsMatching(id)).toEqual([]);
  });

  test('bad input: a clear error and nothing left behind', async () => {
    const bundle = makeBundle((s) => { s.mounts = [{ destination: 'relative/path', type: 'tmpfs', source: 'tmpfs' }]; });
    const id = uniqueId('libbad');
    const err = await runtime.run(id, { bundle, stdio: ['ignore', 'ignore', 'ignore'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).kind).toBe('InvalidArgument');
    expect(String((err as Error).message)).toMatch(/mounts\[0\]\.destination/);
    expect(fs.existsSync(path.join(root, id))).toBe(false);
    expect(cgroupDirsMatching(id)).toEqual([]);
  });

  test('a failing start (no such program) is reported and cleaned up', async () => {
    const bundle = makeBundle((s) => { s.process!.args = ['/no/such/program']; });
    const id = uniqueId('libnoexec');
    await expect(runtime.run(id, { bundle, stdio: ['ignore', 'ignore', 'ignore'] })).rejects.toThrow(/no\/such\/program/);
    expect(fs.existsSync(path.join(root, id))).toBe(false);
    expect(cgroupDirsMatching(id)).toEqual([]);
  });
});

describe('berth-spawner', () => {
  test('a killed spawner is replaced, and no container fails because of it', async () => {
    const root = tempDir('berth-lib-root-');
    const runtime = new Runtime({ root, spawner: true });
    const bundle = makeBundle((s) => { s.process!.args = ['true']; });
    try {
      expect(await runtime.run(uniqueId('libsp1'), { bundle, stdio: ['ignore', 'ignore', 'ignore'] })).toBe(0);
      const [first] = mySpawners();
      expect(first).toBeDefined();
      process.kill(first, 'SIGKILL');
      await eventually(() => !mySpawners().includes(first), 5000, 'the spawner to die');
      // The next container is not hurt by the dead spawner (it starts directly if need be)…
      expect(await runtime.run(uniqueId('libsp2'), { bundle, stdio: ['ignore', 'ignore', 'ignore'] })).toBe(0);
      // …and a new spawner serves the ones after.
      expect(await runtime.run(uniqueId('libsp3'), { bundle, stdio: ['ignore', 'ignore', 'ignore'] })).toBe(0);
      const now = mySpawners();
      expect(now).toHaveLength(1);
      expect(now[0]).not.toBe(first);
    } finally {
      runtime.close();
    }
    await eventually(() => mySpawners().length === 0, 5000, 'berth-spawner to exit');
  });

  test('the socket of a spawner whose process died is removed by the next one', async () => {
    const root = tempDir('berth-lib-root-');
    // A pid that is not running: the highest possible one.
    const stale = path.join(root, `.spawner-${fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()}-dead1234.sock`);
    fs.writeFileSync(stale, '');
    const runtime = new Runtime({ root, spawner: true });
    try {
      expect(await runtime.run(uniqueId('libstale'), { bundle: makeBundle((s) => { s.process!.args = ['true']; }), stdio: ['ignore', 'ignore', 'ignore'] })).toBe(0);
      expect(fs.existsSync(stale)).toBe(false);
      expect(fs.readdirSync(root).filter((f) => f.startsWith('.spawner-'))).toHaveLength(1);
    } finally {
      runtime.close();
    }
    expect(fs.readdirSync(root).filter((f) => f.startsWith('.spawner-'))).toEqual([]);
  });

  test('stdio it cannot hand over (a pipe) falls back to a direct start', async () => {
    const root = tempDir('berth-lib-root-');
    const runtime = new Runtime({ root, spawner: true });
    const bundle = makeBundle((s) => { s.process!.args = ['true']; });
    try {
      expect(await runtime.run(uniqueId('libpipe'), { bundle, stdio: ['pipe', 'ignore', 'ignore'] })).toBe(0);
    } finally {
      runtime.close();
    }
  });

  test('--help-like misuse: started without its control socket it explains itself', () => {
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
    const r = spawnSync(SPAWNER, [], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: berth-spawner/);
  });
});
