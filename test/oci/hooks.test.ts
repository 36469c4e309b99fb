/** Lifecycle hooks: each phase runs where runtime.md says, in order, with the state on stdin. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Hook } from '../../src/oci/spec/types';
import { RuntimeCli, cgroupDirsMatching, cleanupTempDirs, eventually, makeBundle, requireTools, tempDir, uniqueId } from '../helpers/oci';

const cli = new RuntimeCli('berth-run');
beforeAll(() => requireTools());
afterEach(() => cli.cleanup());
afterAll(() => cleanupTempDirs());

/** A hook that appends "<name> <status> <pid or -> <its mount namespace>" to `log`. */
function recorder(name: string, log: string, extra: Partial<Hook> = {}): Hook {
  return {
    path: '/bin/sh',
    args: ['sh', '-c', `read -r state; status=$(echo "$state" | sed -E 's/.*"status":"([a-z]+)".*/\\1/'); pid=$(echo "$state" | grep -oE '"pid":[0-9]+' | cut -d: -f2); echo "${name} $status \${pid:--} $(readlink /proc/self/ns/mnt) $HOOK_ENV $1" >> ${log}`, 'arg0', 'arg1'],
    env: ['HOOK_ENV=from-env', 'PATH=/bin:/usr/bin'],
    ...extra,
  };
}

test('every phase, in order, in the right namespace, with the state on stdin', async () => {
  const dir = tempDir();
  const log = path.join(dir, 'hooks.log');
  const bundle = makeBundle((s) => {
    s.hostname = 'inside';
    s.process!.args = ['sh', '-c', 'sleep 0.2'];
    s.mounts!.push({ destination: '/out', type: 'bind', source: dir, options: ['rbind', 'rw'] });
    s.hooks = {
      prestart: [recorder('prestart', log)],
      createRuntime: [recorder('createRuntime', log)],
      createContainer: [recorder('createContainer', log)],
      // startContainer runs inside the container after pivot_root: its paths are the container's.
      startContainer: [recorder('startContainer', '/out/hooks.log')],
      poststart: [recorder('poststart', log)],
      poststop: [recorder('poststop', log)],
    };
  });
  const id = uniqueId('hooks');
  const host = fs.readlinkSync('/proc/self/ns/mnt');
  cli.ok(['create', '--bundle', bundle, id]);
  const pid = cli.state(id).pid;
  const inside = fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  expect(inside).not.toBe(host);
  cli.ok(['start', id]);
  await eventually(() => cli.state(id).status === 'stopped', 5000, 'exit');
  cli.ok(['delete', id]);
  expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toEqual([
    `prestart creating ${pid} ${host} from-env arg1`,
    `createRuntime creating ${pid} ${host} from-env arg1`,
    `createContainer created ${pid} ${inside} from-env arg1`,
    `startContainer created ${pid} ${inside} from-env arg1`,
    `poststart running ${pid} ${host} from-env arg1`,
    `poststop stopped - ${host} from-env arg1`,
  ]);
});

test('a failing or hanging create-time hook fails create, names the hook, and leaves nothing', () => {
  for (const [phase, hook, message] of [
    ['createRuntime', { path: '/bin/sh', args: ['sh', '-c', 'echo broken >&2; exit 3'] }, /hooks\.createRuntime\[0\].*status 3.*broken/],
    ['createContainer', { path: '/bin/sh', args: ['sh', '-c', 'exit 4'] }, /hooks\.createContainer\[0\].*status 4/],
    ['createRuntime', { path: '/bin/sleep', args: ['sleep', '10'], timeout: 1 }, /hooks\.createRuntime\[0\].*timeout of 1 s/],
    ['createContainer', { path: '/bin/sleep', args: ['sleep', '10'], timeout: 1 }, /hooks\.createContainer\[0\].*timeout of 1 s/],
    ['prestart', { path: '/no/such/hook' }, /hooks\.prestart\[0\].*\/no\/such\/hook/],
  ] as const) {
    const id = uniqueId('hookfail');
    const r = cli.run(['create', '--bundle', makeBundle((s) => { s.hooks = { [phase]: [hook] }; }), id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(fs.existsSync(path.join(cli.root, id))).toBe(false);
    expect(cgroupDirsMatching(id)).toEqual([]);
  }
});

test('a failing poststart hook is a warning; the container keeps running', async () => {
  const id = uniqueId('poststart');
  const r = cli.run(['run', '-d', '--bundle', makeBundle((s) => {
    s.process!.args = ['sleep', '30'];
    s.hooks = { poststart: [{ path: '/bin/false' }] };
  }), id]);
  expect(r.status).toBe(0);
  expect(r.stderr).toMatch(/poststart hook failed/);
  expect(cli.state(id).status).toBe('running');
});

test('a failing startContainer hook fails start and the program never runs', async () => {
  const dir = tempDir();
  const id = uniqueId('startfail');
  cli.ok(['create', '--bundle', makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'touch /out/ran'];
    s.mounts!.push({ destination: '/out', type: 'bind', source: dir, options: ['rbind', 'rw'] });
    s.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 5'] }] };
  }), id]);
  const r = cli.run(['start', id]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/hooks\.startContainer\[0\].*status 5/);
  await eventually(() => cli.state(id).status === 'stopped');
  expect(fs.existsSync(path.join(dir, 'ran'))).toBe(false);
});
