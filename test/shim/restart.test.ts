/** kill -9 berth-shim under 20 containers: they carry on, a new shim re-adopts them and reports missed exits. */
import * as path from 'node:path';
import { ShimClient } from '../../src/shim/client';
import type { TaskEvent } from '../../src/shim/types';
import { monitorsOf, pidAlive, requireShimTools, RUNTIMES, shBundle, ShimUnderTest, SHIM, taskId, waitFor } from './helpers';
import { cleanupTempDirs, tempDir } from '../helpers/oci';

requireShimTools();
// Last, after every block's shim.cleanup(): state dirs, bundles and the crun wrapper.
afterAll(() => cleanupTempDirs());

describe.each(RUNTIMES)('shim restart with %s', (_name, runtime) => {
  const shim = new ShimUnderTest();
  beforeAll(() => shim.start());
  afterAll(() => shim.cleanup());

  test('20 containers survive kill -9 of the shim; restart lists them with the right state and true exit codes', async () => {
    const c = shim.client;
    const long: { id: string; pid: number }[] = [];
    const exiting: { id: string; code: number; file: string }[] = [];
    const gate = tempDir('bshim-gate-');
    for (let i = 0; i < 20; i++) {
      const id = taskId('rs');
      if (i % 5 === 0) {
        // Exits when told (a file appears in a bind-mounted directory), after the shim is gone.
        const code = 20 + i;
        const bundle = shBundle(`while [ ! -e /gate/go ]; do sleep 0.05; done; exit ${code}`, (s) => {
          s.mounts!.push({ destination: '/gate', type: 'bind', source: gate, options: ['rbind', 'ro'] });
        });
        await c.create({ id, bundle, runtime });
        await c.start({ id });
        exiting.push({ id, code, file: path.join(gate, 'go') });
      } else if (i % 5 === 1) {
        const { pid } = await c.create({ id, bundle: shBundle('sleep 1000'), runtime });
        long.push({ id, pid }); // created, never started
      } else {
        const { pid } = await c.create({ id, bundle: shBundle('sleep 1000'), runtime });
        await c.start({ id });
        long.push({ id, pid });
      }
    }
    expect(monitorsOf(shim.stateDir).length).toBe(20);

    await shim.kill9();
    require('node:fs').writeFileSync(path.join(gate, 'go'), '');
    await waitFor(() => monitorsOf(shim.stateDir).length === 16, 10000, 'the exiting containers to exit while the shim is down');
    for (const t of long) expect(pidAlive(t.pid)).toBe(true);

    const c2 = await shim.start();
    const replayed: TaskEvent[] = [];
    const off = c2.events((e) => replayed.push(e), true);
    const tasks = await c2.list();
    expect(tasks.length).toBe(20);
    const byId = new Map(tasks.map((t) => [t.id, t]));
    for (const t of exiting) {
      expect(byId.get(t.id)).toMatchObject({ status: 'stopped', exitCode: t.code });
      expect((await c2.wait({ id: t.id })).exitCode).toBe(t.code);
    }
    for (const [i, t] of long.entries()) {
      expect(byId.get(t.id)).toMatchObject({ pid: t.pid, status: i % 4 === 0 ? 'created' : 'running' });
    }
    await waitFor(() => replayed.filter((e) => e.type === 'exit').length >= exiting.length, 5000, 'replayed exit events');
    off();
    expect(replayed.filter((e) => e.type === 'exit').map((e) => [e.id, e.exitCode]).sort()).toEqual(exiting.map((t) => [t.id, t.code]).sort());

    // The re-adopted monitors are watched again: an exit now is seen at once.
    const running = long[1];
    const exited = c2.wait({ id: running.id });
    await c2.kill({ id: running.id, signal: 9 });
    expect((await exited).exitCode).toBe(137);
  });
});

describe('ShimClient', () => {
  const stateDir = tempDir('bshim-');
  let client: ShimClient | undefined;
  afterAll(async () => {
    client?.close();
    for (const pid of shimPids(stateDir)) process.kill(pid, 'SIGKILL');
  });

  test('starts a shim when none listens, and starts a new one after the shim died', async () => {
    client = await ShimClient.connect({ stateDir, shimBinary: SHIM });
    expect(await client.list()).toEqual([]);
    const [first] = shimPids(stateDir);
    expect(first).toBeGreaterThan(0);
    process.kill(first, 'SIGKILL');
    await waitFor(() => !pidAlive(first), 5000, 'the shim to die');
    expect(await client.list()).toEqual([]);
    const [second] = shimPids(stateDir);
    expect(second).toBeGreaterThan(0);
    expect(second).not.toBe(first);
  });
});

function shimPids(stateDir: string): number[] {
  const fs = require('node:fs') as typeof import('node:fs');
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return cmd.some((a) => a.endsWith('berth-shim')) && cmd.includes(stateDir) && pidAlive(Number(p));
    } catch {
      return false;
    }
  }).map(Number);
}
