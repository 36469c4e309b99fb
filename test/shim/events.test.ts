/**
 * Live events: an OOM kill inside a running container is an "oom" event while the container lives on (and
 * after a shim restart only new kills are announced); Wait and Events streams carry on across kill -9 of the
 * shim.
 */
import * as fs from 'node:fs';
import { ShimClient } from '../../src/shim/client';
import type { TaskEvent } from '../../src/shim/types';
import { crunRuntime, pidAlive, requireShimTools, RUNTIMES, shBundle, ShimUnderTest, taskId, waitFor } from './helpers';
import { cgroupMounts } from '../helpers/host';
import { cleanupTempDirs } from '../helpers/oci';

requireShimTools();
// Last, after every block's shim.cleanup(): state dirs, bundles and the crun wrapper.
afterAll(() => cleanupTempDirs());

const LIMIT = 32 * 1024 * 1024;
// On SIGUSR1 the shell runs a dd whose 256 MiB buffer cannot fit: the OOM killer takes dd (the biggest), sh lives.
const OOM_ON_USR1 = 'trap "dd if=/dev/zero of=/dev/null bs=256M count=1" USR1; while :; do sleep 0.1; done';
const limited = (s: import('../../src/oci/spec/types').Spec): void => {
  s.linux!.resources = { ...s.linux!.resources, memory: { limit: LIMIT, swap: LIMIT } };
};

/** The oom_kill counter of the v1 memory cgroup (or v2 memory.events) that pid is in, wherever it is mounted. */
function oomKills(pid: number): number {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  const mounts = cgroupMounts();
  const file = v1
    ? `${mounts.v1.get('memory')}${v1.split(':')[2]}/memory.oom_control`
    : `${mounts.v2?.mountPoint}${lines.find((l) => l.startsWith('0::'))!.slice(3)}/memory.events`;
  return Number(/^oom_kill (\d+)$/m.exec(fs.readFileSync(file, 'utf8'))![1]);
}

describe.each([...RUNTIMES, ['crun', crunRuntime()]])('live OOM events with %s', (_name, runtime) => {
  const shim = new ShimUnderTest();
  beforeAll(() => shim.start());
  afterAll(() => shim.cleanup());

  test('a child OOM-killed: an "oom" event while the container keeps running; after a restart only new kills', async () => {
    let c = shim.client;
    const id = taskId('oomlive');
    const events: TaskEvent[] = [];
    const off = c.events((e) => { if (e.id === id) events.push(e); });
    const { pid } = await c.create({ id, bundle: shBundle(OOM_ON_USR1, limited), runtime });
    await c.start({ id });
    await new Promise((r) => setTimeout(r, 300)); // the trap is set
    process.kill(pid, 'SIGUSR1');
    await waitFor(() => events.some((e) => e.type === 'oom'), 15000, 'an oom event');
    expect(oomKills(pid)).toBe(1);
    expect(pidAlive(pid)).toBe(true);
    expect(await c.state({ id })).toMatchObject({ status: 'running', pid, oomKilled: false });
    off();
    expect(events.map((e) => e.type)).toEqual(['create', 'start', 'oom']);
    expect(events[2]).toMatchObject({ id, execId: '', pid });

    // Shim down: a second kill happens meanwhile. The next shim announces that one, not the first again.
    await shim.kill9();
    process.kill(pid, 'SIGUSR1');
    await waitFor(() => oomKills(pid) === 2, 15000, 'the second OOM kill');
    c = await shim.start();
    await waitFor(async () => (await c.state({ id })).status === 'running', 5000, 'the task to be adopted');
    const replayed: string[] = [];
    const off2 = c.events((e) => { if (e.id === id) replayed.push(e.type); }, true);
    await waitFor(() => replayed.length > 0, 5000, 'the replayed oom event');
    await new Promise((r) => setTimeout(r, 300));
    expect(replayed).toEqual(['oom']);

    // Long after the OOM kills, a SIGKILL of init is not an OOM kill.
    await new Promise((r) => setTimeout(r, 2200));
    await c.kill({ id, signal: 9 });
    expect(await c.wait({ id })).toMatchObject({ exitCode: 137, oomKilled: false });
    off2();
    await c.delete({ id });
  });

  test('init OOM-killed: one "oom" event, then exit 137 with oomKilled', async () => {
    const c = shim.client;
    const id = taskId('oominit');
    const events: string[] = [];
    const off = c.events((e) => { if (e.id === id) events.push(e.type); });
    await c.create({ id, bundle: shBundle('exec dd if=/dev/zero of=/dev/null bs=256M count=1', limited), runtime });
    await c.start({ id });
    expect(await c.wait({ id })).toMatchObject({ exitCode: 137, oomKilled: true });
    await new Promise((r) => setTimeout(r, 200));
    off();
    // "start" may come after "oom": dd can be killed before Start has returned.
    expect([...events].sort()).toEqual(['create', 'exit', 'oom', 'start']);
    expect(events.indexOf('oom')).toBeLessThan(events.indexOf('exit'));
    await c.delete({ id });
  });
});

describe.each([...RUNTIMES, ['crun', crunRuntime()]])('streams across a shim restart with %s', (_name, runtime) => {
  const shim = new ShimUnderTest();
  let client: ShimClient | undefined;
  beforeAll(() => shim.start());
  afterAll(async () => {
    client?.close();
    await shim.cleanup();
  });

  test('kill -9 of the shim under a Wait and an Events stream: both resume, the wait gets the true exit code', async () => {
    // A client of its own: the helper's client is replaced when the shim restarts.
    client = await ShimClient.connect({ stateDir: shim.stateDir, autoStart: false });
    const id = taskId('resume');
    const { pid } = await client.create({ id, bundle: shBundle('trap "exit 42" TERM; while :; do sleep 0.1; done'), runtime });
    await client.start({ id });
    const events: string[] = [];
    const off = client.events((e) => { if (e.id === id) events.push(`${e.type}:${e.exitCode}`); });
    let settled: string | undefined;
    const waited = client.wait({ id }).then((e) => { settled = 'exit'; return e; }, (err: Error) => { settled = 'error'; throw err; });
    await new Promise((r) => setTimeout(r, 200));

    await shim.kill9();
    process.kill(pid, 'SIGTERM'); // the container exits while no shim runs
    await waitFor(() => !pidAlive(pid), 5000, 'the container to exit');
    await new Promise((r) => setTimeout(r, 500));
    expect(settled).toBeUndefined(); // still waiting, no error: the client keeps trying

    await shim.start();
    const exit = await waited;
    expect(exit).toMatchObject({ id, exitCode: 42, pid });
    await waitFor(() => events.includes('exit:42'), 5000, 'the exit event on the resumed stream');
    off();
    expect(events).toEqual(['exit:42']);
    await client.delete({ id });
  });

  test('a Wait that started before the restart of a process still running resolves when it exits later', async () => {
    client ??= await ShimClient.connect({ stateDir: shim.stateDir, autoStart: false });
    const id = taskId('resume');
    await client.create({ id, bundle: shBundle('read x; exit 42'), runtime, stdin: true });
    await client.start({ id });
    const waited = client.wait({ id });
    await new Promise((r) => setTimeout(r, 200));
    await shim.kill9();
    await shim.start();
    await client.closeStdin({ id });
    expect(await waited).toMatchObject({ id, exitCode: 42 });
    await client.delete({ id });
  });

  test('a Wait for a task that is gone after the restart fails with NotFound instead of retrying', async () => {
    client ??= await ShimClient.connect({ stateDir: shim.stateDir, autoStart: false });
    await expect(client.wait({ id: 'no-such-task' })).rejects.toMatchObject({ kind: 'NotFound' });
  });
});
