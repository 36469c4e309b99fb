/** The task API's core through a real berth-shim: create, start, state, list, wait, kill, delete, bad input. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../src/common/errors';
import { cgroupsOf, crunRuntime, monitorsOf, requireShimTools, RUNTIMES, shBundle, ShimUnderTest, taskId } from './helpers';
import { cleanupTempDirs, makeBundle } from '../helpers/oci';

requireShimTools();
// Last, after every block's shim.cleanup(): state dirs, bundles and the crun wrapper.
afterAll(() => cleanupTempDirs());

describe.each([...RUNTIMES, ['crun', crunRuntime()]])('task lifecycle with %s', (_name, runtime) => {
  const shim = new ShimUnderTest();
  beforeAll(() => shim.start());
  afterAll(() => shim.cleanup());

  test('create, start, state, wait for the exit code, delete', async () => {
    const c = shim.client;
    const id = taskId();
    const logPath = path.join(shim.stateDir, 'logs', `${id}.log`);
    const { pid } = await c.create({ id, bundle: shBundle('echo out; echo err >&2; read x; exit 7'), runtime, logPath, stdin: true });
    expect(pid).toBeGreaterThan(0);
    // The monitor is the container's parent.
    const ppid = Number(/PPid:\s*(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    expect(fs.readlinkSync(`/proc/${ppid}/exe`)).toMatch(/berth-monitor$/);
    expect((await c.state({ id })).status).toBe('created');
    await c.start({ id });
    expect((await c.state({ id })).status).toBe('running');
    expect(cgroupsOf(id).length).toBeGreaterThan(0); // so that the checks for none left mean something
    expect((await c.list()).map((t) => t.id)).toContain(id);
    const exited = c.wait({ id });
    await c.closeStdin({ id });
    const exit = await exited;
    expect(exit.exitCode).toBe(7);
    const st = await c.state({ id });
    expect(st.status).toBe('stopped');
    expect(st.exitCode).toBe(7);
    const log = fs.readFileSync(logPath, 'utf8');
    expect(log).toMatch(/^\S+Z stdout F out\n/m);
    expect(log).toMatch(/^\S+Z stderr F err\n/m);
    await c.delete({ id });
    await expect(c.state({ id })).rejects.toMatchObject({ kind: 'NotFound' });
    expect(fs.existsSync(path.join(shim.stateDir, 'tasks', id))).toBe(false);
    expect(monitorsOf(path.join(shim.stateDir, 'tasks', id))).toEqual([]);
    expect(cgroupsOf(id)).toEqual([]);
  });

  test('kill: exit 128+signal; events for create, start, exit', async () => {
    const c = shim.client;
    const id = taskId();
    const seen: string[] = [];
    const off = c.events((e) => { if (e.id === id) seen.push(`${e.type}:${e.exitCode}`); });
    await c.create({ id, bundle: shBundle('sleep 1000'), runtime });
    await c.start({ id });
    const exited = c.wait({ id });
    await c.kill({ id, signal: 9 });
    expect((await exited).exitCode).toBe(137);
    await c.delete({ id });
    await new Promise((r) => setTimeout(r, 100));
    off();
    expect(seen).toEqual(['create:0', 'start:0', 'exit:137', 'delete:137']);
  });

  test('delete of a running task needs force; force kills it', async () => {
    const c = shim.client;
    const id = taskId();
    await c.create({ id, bundle: shBundle('sleep 1000'), runtime });
    await c.start({ id });
    await expect(c.delete({ id })).rejects.toMatchObject({ kind: 'FailedPrecondition' });
    const exit = await c.delete({ id, force: true });
    expect(exit.exitCode).toBe(137);
    expect(monitorsOf(path.join(shim.stateDir, 'tasks', id))).toEqual([]);
    expect(cgroupsOf(id)).toEqual([]);
  });

  test('bad input: clear errors, nothing left behind', async () => {
    const c = shim.client;
    await expect(c.state({ id: 'no-such-task' })).rejects.toMatchObject({ kind: 'NotFound', message: expect.stringContaining('no-such-task') });
    await expect(c.start({ id: 'no-such-task' })).rejects.toMatchObject({ kind: 'NotFound' });
    await expect(c.create({ id: '../evil', bundle: shBundle('true'), runtime })).rejects.toMatchObject({ kind: 'InvalidArgument', message: expect.stringContaining('id') });
    await expect(c.create({ id: taskId(), bundle: 'relative/bundle', runtime })).rejects.toMatchObject({ kind: 'InvalidArgument', message: expect.stringContaining('bundle') });
    await expect(c.create({ id: taskId(), bundle: shBundle('true'), runtime: '/no/such/runtime' })).rejects.toMatchObject({ kind: 'InvalidArgument', message: expect.stringContaining('runtime') });

    const id = taskId();
    await c.create({ id, bundle: shBundle('sleep 1000'), runtime });
    await expect(c.create({ id, bundle: shBundle('true'), runtime })).rejects.toMatchObject({ kind: 'AlreadyExists', message: expect.stringContaining(id) });
    await c.start({ id });
    await c.kill({ id, signal: 9 });
    await c.wait({ id });
    await expect(c.exec({ id, execId: 'e1', process: { args: ['true'] } })).rejects.toMatchObject({ kind: 'FailedPrecondition', message: expect.stringContaining('stopped') });
    await expect(c.kill({ id, signal: 15 })).rejects.toMatchObject({ kind: 'FailedPrecondition' });
    await c.delete({ id });

    // A bundle the runtime cannot create: its rootfs does not exist.
    const bad = taskId();
    const bundle = makeBundle((s) => { s.root = { path: '/nonexistent-rootfs-for-shim-test' }; });
    const err = await c.create({ id: bad, bundle, runtime }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).message).toMatch(/rootfs|root|no such file/i);
    await expect(c.state({ id: bad })).rejects.toMatchObject({ kind: 'NotFound' });
    expect(fs.existsSync(path.join(shim.stateDir, 'tasks', bad))).toBe(false);
    expect(monitorsOf(shim.stateDir).length).toBe(0);
    expect(cgroupsOf(bad)).toEqual([]);
  });
});
