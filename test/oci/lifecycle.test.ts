/** berth-run's lifecycle through its CLI, as a shim written for runc drives it. Root, real namespaces. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeCli, cleanupTempDirs, eventually, makeBundle, requireTools, tempDir, uniqueId, cgroupDirsMatching, processGone } from '../helpers/oci';

const cli = new RuntimeCli('berth-run');

beforeAll(() => requireTools('runc'));
afterEach(() => cli.cleanup());
afterAll(() => cleanupTempDirs());

const sh = (script: string) => (s: import('../../src/oci/spec/types').Spec) => { s.process!.args = ['sh', '-c', script]; };

describe('create / start / state / kill / delete', () => {
  test('walks through every status of runtime.md', async () => {
    const out = path.join(tempDir(), 'out');
    const bundle = makeBundle((s) => {
      s.process!.args = ['sh', '-c', 'echo started > /mnt/out/started; trap "exit 7" TERM; while true; do sleep 0.1; done'];
      s.mounts!.push({ destination: '/mnt/out', type: 'bind', source: path.dirname(out), options: ['rbind', 'rw'] });
      s.annotations = { 'org.example/key': 'value' };
    });
    const id = uniqueId('life');
    const pidFile = path.join(tempDir(), 'pid');
    cli.ok(['create', '--bundle', bundle, '--pid-file', pidFile, id]);
    const created = cli.state(id);
    expect(created).toMatchObject({ id, status: 'created', bundle, annotations: { 'org.example/key': 'value' } });
    expect(created.pid).toBeGreaterThan(0);
    expect(fs.readFileSync(pidFile, 'utf8')).toBe(String(created.pid));
    expect(fs.existsSync(path.join(path.dirname(out), 'started'))).toBe(false);

    cli.ok(['start', id]);
    await eventually(() => fs.existsSync(path.join(path.dirname(out), 'started')), 5000, 'the container program');
    expect(cli.state(id)).toMatchObject({ status: 'running', pid: created.pid });

    const second = cli.run(['start', id]);
    expect(second.status).not.toBe(0);
    expect(second.stderr).toMatch(/running/);

    cli.ok(['kill', id, 'TERM']);
    await eventually(() => cli.state(id).status === 'stopped', 5000, 'stopped');
    cli.ok(['delete', id]);
    expect(cli.run(['state', id]).status).not.toBe(0);
    expect(fs.existsSync(path.join(cli.root, id))).toBe(false);
    expect(cgroupDirsMatching(id)).toEqual([]);
  });

  test('delete of a created container fails without --force (runtime.md), and --force removes it', () => {
    const id = uniqueId('created');
    cli.ok(['create', '--bundle', makeBundle(sh('exit 0')), id]);
    const pid = cli.state(id).pid;
    const r = cli.run(['delete', id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not stopped: created/);
    cli.ok(['delete', '--force', id]);
    expect(processGone(pid)).toBe(true);
    expect(cgroupDirsMatching(id)).toEqual([]);
  });

  test('kill of a created container with SIGKILL stops it', async () => {
    const id = uniqueId('killc');
    cli.ok(['create', '--bundle', makeBundle(sh('exit 0')), id]);
    cli.ok(['kill', id, 'KILL']);
    await eventually(() => cli.state(id).status === 'stopped');
    expect(cli.run(['kill', id, 'KILL']).stderr).toMatch(/not running/);
    cli.ok(['delete', id]);
  });

  test('a missing program is reported by start with a clear error', () => {
    const id = uniqueId('noexec');
    cli.ok(['create', '--bundle', makeBundle((s) => { s.process!.args = ['/no/such/program']; }), id]);
    const r = cli.run(['start', id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\/no\/such\/program.*no such file/i);

    const id2 = uniqueId('nopath');
    cli.ok(['create', '--bundle', makeBundle((s) => { s.process!.args = ['no-such-command']; }), id2]);
    const r2 = cli.run(['start', id2]);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(/"no-such-command": executable file not found in \$PATH/);

    const id3 = uniqueId('notexec');
    cli.ok(['create', '--bundle', makeBundle((s) => { s.process!.args = ['/etc/passwd']; }), id3]);
    const r3 = cli.run(['start', id3]);
    expect(r3.status).toBe(1);
    expect(r3.stderr).toMatch(/\/etc\/passwd.*permission denied/i);
  });
});

describe('run', () => {
  test('exits with the container exit code and cleans up', () => {
    const id = uniqueId('run');
    const r = cli.run(['run', '--bundle', makeBundle(sh('echo out; echo err >&2; exit 42')), id]);
    expect(r.status).toBe(42);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(fs.existsSync(path.join(cli.root, id))).toBe(false);
  });

  test('a container killed by a signal exits 128+N', () => {
    // Not as PID 1 of its own pid namespace: that process is immune to SIGKILL sent from inside (runc: same).
    const r = cli.run(['run', '--bundle', makeBundle((s) => {
      s.process!.args = ['sh', '-c', 'kill -KILL $$'];
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid');
    }), uniqueId('sig')]);
    expect(r.status).toBe(137);
  });

  test('--detach returns while the container runs; exec, ps, list, pause and resume work on it', async () => {
    const id = uniqueId('detach');
    cli.ok(['run', '--detach', '--bundle', makeBundle(sh('exec sleep 60')), id]);
    const { pid } = cli.state(id);
    expect(cli.state(id).status).toBe('running');

    const e = cli.run(['exec', id, 'sh', '-c', 'echo in-container $(hostname); exit 5']);
    expect(e.status).toBe(5);
    expect(e.stdout).toBe('in-container berth\n');
    const user = cli.ok(['exec', '--user', '1000:1000', '--env', 'FOO=bar', '--cwd', '/tmp', id, 'sh', '-c', 'echo $(id -u):$(id -g) $FOO $(pwd)']);
    expect(user.stdout).toBe('1000:1000 bar /tmp\n');

    const ps = JSON.parse(cli.ok(['ps', '--format', 'json', id]).stdout) as number[];
    expect(ps).toContain(pid);
    const table = cli.ok(['ps', id]).stdout;
    expect(table.split('\n')[0]).toMatch(/PID/);
    expect(table).toMatch(/sleep 60/);

    const listed = JSON.parse(cli.ok(['list', '--format', 'json']).stdout) as { id: string; status: string }[];
    expect(listed.find((c) => c.id === id)?.status).toBe('running');
    expect(cli.ok(['list', '-q']).stdout.split('\n')).toContain(id);

    cli.ok(['pause', id]);
    expect(cli.state(id).status).toBe('paused');
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/State:\s+[DS]/);
    const execPaused = cli.run(['exec', id, 'true']);
    expect(execPaused.status).not.toBe(0);
    cli.ok(['resume', id]);
    expect(cli.state(id).status).toBe('running');

    cli.ok(['update', '--memory', '64m', '--pids-limit', '50', id]);
    const stats = JSON.parse(cli.ok(['events', '--stats', id]).stdout);
    expect(stats).toMatchObject({ type: 'stats', id });
    expect(stats.data.pids.limit).toBe(50);
    expect(stats.data.memory.usage.limit).toBe(64 * 1024 * 1024);

    const del = cli.run(['delete', id]);
    expect(del.stderr).toMatch(/not stopped: running/);
    cli.ok(['delete', '--force', id]);
    expect(processGone(pid)).toBe(true);
  });

  test('kill --all signals every process in the container', async () => {
    const id = uniqueId('killall');
    cli.ok(['run', '-d', '--bundle', makeBundle((s) => {
      s.process!.args = ['sh', '-c', 'sleep 100 & sleep 100 & wait'];
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid');
    }), id]);
    await eventually(() => JSON.parse(cli.ok(['ps', '-f', 'json', id]).stdout).length === 3, 5000, 'three processes');
    cli.ok(['kill', '--all', id, 'KILL']);
    await eventually(() => cli.state(id).status === 'stopped', 5000, 'stopped');
    await eventually(() => JSON.parse(cli.ok(['ps', '-f', 'json', id]).stdout).length === 0, 5000, 'no processes');
  });
});

describe('the command line', () => {
  test('--version, --help, features and spec', () => {
    expect(cli.ok(['--version']).stdout).toMatch(/^berth-run version \d+\.\d+\.\d+/);
    expect(cli.ok(['--help']).stdout).toMatch(/Commands:[\s\S]*create/);
    for (const cmd of ['create', 'start', 'state', 'kill', 'delete', 'run', 'exec', 'ps', 'list', 'pause', 'resume', 'update', 'events', 'features', 'spec']) {
      const r = cli.ok([cmd, '--help']);
      expect(r.stdout).toMatch(new RegExp(`Usage: berth-run ${cmd}`));
    }
    const features = JSON.parse(cli.ok(['features']).stdout);
    expect(features.ociVersionMax).toBe('1.3.0');
    expect(features.linux.namespaces).toContain('cgroup');
    expect(features.linux.seccomp.enabled).toBe(true);
    const dir = tempDir();
    cli.ok(['spec', '--bundle', dir]);
    const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(spec.ociVersion).toBe('1.3.0');
    expect(cli.run(['spec', '--bundle', dir]).status).toBe(1);
  });

  test('--systemd-cgroup without a reachable systemd fails clearly and leaves nothing', () => {
    // No systemd runs on the build machines: the driver itself is tested against a D-Bus stand-in
    // (test/oci/cgroups-systemd.test.ts); here the CLI path must refuse cleanly.
    const id = uniqueId('systemd');
    const r = cli.run(['--systemd-cgroup', 'run', '--bundle', makeBundle((s) => { s.process!.args = ['true']; s.linux!.cgroupsPath = 'system.slice:berth:' + id; }), id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/systemd/);
    expect(fs.existsSync(path.join(cli.root, id))).toBe(false);
    expect(cgroupDirsMatching(id)).toEqual([]);
  });

  test('unknown commands and flags are errors', () => {
    expect(cli.run(['frobnicate']).stderr).toMatch(/frobnicate: unknown command/);
    expect(cli.run(['create', '--bogus', 'x']).stderr).toMatch(/--bogus: unknown flag/);
    expect(cli.run(['state']).stderr).toMatch(/requires a container id/);
  });

  test('--log with --log-format json writes the error for shims to read', () => {
    const log = path.join(tempDir(), 'log.json');
    const r = cli.run(['--log', log, '--log-format', 'json', 'state', 'nope']);
    expect(r.status).toBe(1);
    const last = JSON.parse(fs.readFileSync(log, 'utf8').trim().split('\n').pop()!);
    expect(last).toMatchObject({ level: 'error', msg: expect.stringMatching(/does not exist/) });
    expect(r.stderr).toMatch(/does not exist/);
  });
});
