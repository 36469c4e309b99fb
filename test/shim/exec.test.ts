/** Exec (with and without a terminal, as another user, to completion with a timeout), attach and resize. */
import * as fs from 'node:fs';
import { crunRuntime, requireShimTools, RUNTIMES, shBundle, ShimUnderTest, taskId } from './helpers';
import type { ShimClient } from '../../src/shim/client';
import type { TaskRef } from '../../src/shim/types';
import { cleanupTempDirs } from '../helpers/oci';

requireShimTools();
// Last, after every block's shim.cleanup(): state dirs, bundles and the crun wrapper.
afterAll(() => cleanupTempDirs());

/** Attaches, sends `input` after `before` has run, and collects output until the process exits. */
async function attachAndCollect(c: ShimClient, target: TaskRef, steps: { resize?: { rows: number; cols: number }; data?: string; closeStdin?: boolean }[]): Promise<{ out: string; err: string; exitCode: number }> {
  const call = c.attach();
  let out = '';
  let err = '';
  const done = new Promise<number>((resolve, reject) => {
    call.on('data', (m) => {
      if (m.exited) resolve(m.exitCode);
      else if (m.stream === 'STDERR') err += m.data.toString();
      else out += m.data.toString();
    });
    call.on('error', reject);
    call.on('end', () => resolve(-1));
  });
  call.write({ target, stdin: true });
  for (const s of steps) {
    await new Promise((r) => setTimeout(r, 100));
    call.write({ resize: s.resize, data: s.data ? Buffer.from(s.data) : undefined, closeStdin: s.closeStdin });
  }
  const exitCode = await done;
  call.end();
  return { out, err, exitCode };
}

describe.each([...RUNTIMES, ['crun', crunRuntime()]])('exec and attach with %s', (_name, runtime) => {
  const shim = new ShimUnderTest();
  let id: string;
  beforeAll(async () => {
    await shim.start();
    id = taskId('exec');
    await shim.client.create({ id, bundle: shBundle('sleep 1000'), runtime });
    await shim.client.start({ id });
  });
  afterAll(() => shim.cleanup());

  test('ExecSync: output, exit code, the container user by default', async () => {
    const r = await shim.client.execSync({ id, process: { args: ['sh', '-c', 'id -u; echo err >&2; printf no-newline; exit 3'] } });
    expect(r.stdout.toString()).toBe('0\nno-newline');
    expect(r.stderr.toString()).toBe('err\n');
    expect(r.exitCode).toBe(3);
    expect(r.timedOut).toBe(false);
  });

  test('ExecSync as another user, with env and cwd', async () => {
    const r = await shim.client.execSync({ id, process: { args: ['sh', '-c', 'echo $(id -u):$(id -g) $FOO $(pwd)'], hasUser: true, user: { uid: 1000, gid: 1001 }, env: ['FOO=bar', 'PATH=/bin:/usr/bin'], cwd: '/tmp' } });
    expect(r.stdout.toString()).toBe('1000:1001 bar /tmp\n');
    expect(r.exitCode).toBe(0);
  });

  test('ExecSync with a timeout kills the process', async () => {
    const t0 = Date.now();
    const r = await shim.client.execSync({ id, process: { args: ['sleep', '30'] }, timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(137);
    expect(Date.now() - t0).toBeLessThan(10000);
    expect((await shim.client.state({ id })).execIds).toEqual([]);
  });

  test('Exec without a terminal: stdin in, stdout and stderr apart, exit code, events', async () => {
    const events: string[] = [];
    const off = shim.client.events((e) => { if (e.id === id && e.execId === 'cat1') events.push(`${e.type}:${e.exitCode}`); });
    await shim.client.exec({ id, execId: 'cat1', process: { args: ['sh', '-c', 'cat; echo bye >&2; exit 4'] }, stdin: true });
    const r = await attachAndCollect(shim.client, { id, execId: 'cat1' }, [{ data: 'hello\n' }, { closeStdin: true }]);
    expect(r).toEqual({ out: 'hello\n', err: 'bye\n', exitCode: 4 });
    expect((await shim.client.wait({ id, execId: 'cat1' })).exitCode).toBe(4);
    await shim.client.delete({ id, execId: 'cat1' });
    off();
    expect(events).toEqual(['exec_started:0', 'exec_exited:4']);
    await expect(shim.client.exec({ id, execId: 'bad/id', process: { args: ['true'] } })).rejects.toMatchObject({ kind: 'InvalidArgument', message: expect.stringContaining('exec_id') });
    await expect(shim.client.exec({ id, execId: 'x', process: { args: [] } })).rejects.toMatchObject({ kind: 'InvalidArgument', message: expect.stringContaining('process.args') });
  });

  test('Exec with a terminal: a pty, resized through attach', async () => {
    await shim.client.exec({ id, execId: 'tty1', process: { args: ['sh', '-c', 'read x; tty; stty size; exit 5'], terminal: true }, stdin: true });
    const r = await attachAndCollect(shim.client, { id, execId: 'tty1' }, [{ resize: { rows: 40, cols: 100 } }, { data: 'go\n' }]);
    expect(r.exitCode).toBe(5);
    expect(r.out).toMatch(/\/dev\/pts\/\d+/);
    expect(r.out).toContain('40 100');
    await shim.client.delete({ id, execId: 'tty1' });
  });

  test('Exec for attach: output written (and exit) before the Attach all reach it, also beyond the pipe buffer', async () => {
    // 300,000 bytes: more than a pipe holds, so the process blocks until the attach drains it.
    const script = 'echo early; echo early-err >&2; head -c 300000 /dev/zero | tr "\\0" x; echo; exit 5';
    await shim.client.exec({ id, execId: 'early1', process: { args: ['sh', '-c', script] }, attach: true });
    await new Promise((r) => setTimeout(r, 700)); // the process has written all it can meanwhile
    const r = await attachAndCollect(shim.client, { id, execId: 'early1' }, []);
    expect(r.err).toBe('early-err\n');
    expect(r.out.length).toBe('early\n'.length + 300000 + 1);
    expect(r.out).toBe(`early\n${'x'.repeat(300000)}\n`);
    expect(r.exitCode).toBe(5);
    expect((await shim.client.wait({ id, execId: 'early1' })).exitCode).toBe(5);
    await shim.client.delete({ id, execId: 'early1' });

    // With a terminal too: the exit happened long before the attach, the output is still there.
    await shim.client.exec({ id, execId: 'early2', process: { args: ['sh', '-c', 'echo tty-early; exit 6'], terminal: true }, attach: true });
    await new Promise((r) => setTimeout(r, 700));
    const t = await attachAndCollect(shim.client, { id, execId: 'early2' }, []);
    expect(t.out).toContain('tty-early');
    expect(t.exitCode).toBe(6);
    await shim.client.delete({ id, execId: 'early2' });
  });

  test('Exec for attach that nobody attaches to: after attach_timeout_ms the exit is reported anyway', async () => {
    const t0 = Date.now();
    await shim.client.exec({ id, execId: 'noattach', process: { args: ['sh', '-c', 'echo unread; exit 3'] }, attach: true, attachTimeoutMs: 1000 });
    expect((await shim.client.wait({ id, execId: 'noattach' })).exitCode).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // it did wait for an attach
    await shim.client.delete({ id, execId: 'noattach' });
    await expect(shim.client.exec({ id, execId: 'x', process: { args: ['true'] }, attach: true, attachTimeoutMs: 5 })).rejects.toMatchObject({ kind: 'InvalidArgument', message: expect.stringContaining('attach_timeout_ms') });
  });

  test('attach to a container with a terminal, ResizePty', async () => {
    const cid = taskId('tty');
    await shim.client.create({ id: cid, bundle: shBundle('read x; stty size; echo got $x; exit 0', (s) => { s.process!.terminal = true; }), runtime, terminal: true, stdin: true });
    await shim.client.start({ id: cid });
    await shim.client.resizePty({ id: cid, size: { rows: 30, cols: 120 } });
    const r = await attachAndCollect(shim.client, { id: cid }, [{ data: 'abc\n' }]);
    expect(r.exitCode).toBe(0);
    expect(r.out).toContain('30 120');
    expect(r.out).toContain('got abc');
    await expect(shim.client.resizePty({ id, size: { rows: 1, cols: 1 } })).rejects.toMatchObject({ kind: 'FailedPrecondition', message: expect.stringContaining('terminal') });
    await shim.client.delete({ id: cid });
  });

  test('Pause, Resume, Update, Stats', async () => {
    await shim.client.pause({ id });
    expect((await shim.client.state({ id })).status).toBe('paused');
    await shim.client.resume({ id });
    expect((await shim.client.state({ id })).status).toBe('running');
    await shim.client.update({ id, resourcesJson: JSON.stringify({ memory: { limit: 64 << 20 } }) });
    if (_name === 'crun') {
      // crun 1.8 has no `events --stats`: Stats says so instead of inventing numbers.
      await expect(shim.client.stats({ id })).rejects.toMatchObject({ kind: 'Unimplemented', message: expect.stringContaining('events --stats') });
      // The update reached the cgroup all the same.
      const { pid } = await shim.client.state({ id });
      const memory = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l))!.split(':')[2];
      expect(Number(fs.readFileSync(`/sys/fs/cgroup/memory${memory}/memory.limit_in_bytes`, 'utf8'))).toBe(64 << 20);
      return;
    }
    const s = await shim.client.stats({ id });
    expect(s.memoryLimit).toBe(64 << 20);
    expect(s.memoryUsage).toBeGreaterThan(0);
    expect(s.pidsCurrent).toBeGreaterThanOrEqual(1);
    await expect(shim.client.update({ id, resourcesJson: '{bad' })).rejects.toMatchObject({ kind: 'InvalidArgument', message: expect.stringContaining('resources_json') });
  });
});
