/**
 * Bad input through the real CLI: every rejection exits non-zero, names the field at fault on stderr, and
 * leaves nothing behind — no state directory under --root, no cgroup, no mount, no process. Root, real kernel.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Spec } from '../../src/oci/spec/types';
import {
  BERTH_RUN, RuntimeCli, cgroupDirsMatching, type Invocation, cleanupTempDirs, copyRootfs, eventually, killPids, makeBundle, mountsMatching,
  processGone, processesWithEnv, requireTools, tempDir, uniqueId,
} from '../helpers/oci';

const cli = new RuntimeCli('berth-run');
const MARK = 'BERTH_TEST_MARK';
let marker = '';
/** Rootfs copies made by this suite: host-side mounts on them would be leaks (and must not survive rm -rf). */
const copies: string[] = [];

beforeAll(() => requireTools('runc'));
beforeEach(() => {
  // Every process berth-run starts for this test (berth-init, the container's init, hooks) inherits the marker.
  marker = `${MARK}=${uniqueId('bad')}`;
  process.env[MARK] = marker.slice(MARK.length + 1);
});
afterEach(() => {
  cli.cleanup();
  killPids(processesWithEnv(marker));
  for (const c of copies) {
    for (const line of mountsMatching(c)) {
      const target = line.split(' ')[4];
      execFileSync('umount', ['-l', target]);
    }
  }
});
afterAll(() => {
  delete process.env[MARK];
  cleanupTempDirs();
});

const sh = (script: string) => (s: Spec) => { s.process!.args = ['sh', '-c', script]; };

function rootfsCopy(): string {
  const c = copyRootfs();
  copies.push(c);
  return c;
}

/** Nothing of `id` anywhere: state dir, cgroup dirs, host mounts, processes started for this test. */
function expectNothingLeft(id: string, extraMountNeedles: string[] = []): void {
  expect(fs.existsSync(path.join(cli.root, id))).toBe(false);
  expect(fs.existsSync(cli.root) ? fs.readdirSync(cli.root).filter((n) => !n.startsWith('.out-')) : []).toEqual([]);
  expect(cgroupDirsMatching(id)).toEqual([]);
  expect(mountsMatching(id)).toEqual([]);
  for (const n of extraMountNeedles) expect(mountsMatching(n)).toEqual([]);
  expect(processesWithEnv(marker)).toEqual([]);
}

/**
 * Like cli.run, without registering the id for cleanup (a `delete --force` per rejected create would double
 * the suite's time): for commands expected to fail. Output goes through files, as in RuntimeCli.
 */
function runRejected(args: string[]): Invocation {
  const dir = tempDir('berth-io-');
  const out = fs.openSync(path.join(dir, 'out'), 'w+');
  const err = fs.openSync(path.join(dir, 'err'), 'w+');
  try {
    const r = spawnSync(BERTH_RUN, ['--root', cli.root, ...args], { stdio: ['ignore', out, err], timeout: 30000 });
    if (r.error) throw r.error;
    return { status: r.status ?? 128, stdout: fs.readFileSync(path.join(dir, 'out'), 'utf8'), stderr: fs.readFileSync(path.join(dir, 'err'), 'utf8') };
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
}

/** create must fail with `message` (which names the field) and leave nothing. */
function expectCreateRejected(bundle: string, message: RegExp, id = uniqueId('bad'), mountNeedles: string[] = [], flags: string[] = []): string {
  const r = runRejected(['create', ...flags, '--bundle', bundle, id]);
  try {
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    expectNothingLeft(id, mountNeedles);
  } finally {
    // Only when the runtime got it wrong: clean up what it made.
    if (r.status === 0 || fs.existsSync(path.join(cli.root, id))) cli.run(['delete', '--force', id]);
  }
  return r.stderr;
}

function writeConfig(dir: string, text: string): string {
  fs.writeFileSync(path.join(dir, 'config.json'), text);
  return dir;
}

describe('bad config.json is rejected by create before anything is made', () => {
  test('malformed JSON names the file', () => {
    const bundle = writeConfig(tempDir('berth-bundle-'), '{"ociVersion": "1.0.2", "root": {');
    expectCreateRejected(bundle, /config\.json: malformed JSON/);
  });

  test('a missing config.json names the file', () => {
    expectCreateRejected(tempDir('berth-bundle-'), /config\.json.*no such file/i);
  });

  test('run fails the same way and leaves nothing', () => {
    const id = uniqueId('badrun');
    const r = cli.run(['run', '--bundle', makeBundle((s) => { s.ociVersion = '2.0.0'; }), id]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ociVersion: unsupported major version 2/);
    expectNothingLeft(id);
  });

  const cases: [string, (s: Spec, bundle: string) => void, RegExp][] = [
    ['unsupported ociVersion major', (s) => { s.ociVersion = '2.0.0'; }, /^ociVersion: unsupported major version 2/m],
    ['missing root', (s) => { delete s.root; }, /^root: must be an object/m],
    ['missing root.path', (s) => { delete (s.root as { path?: string }).path; }, /^root\.path: must be a string/m],
    ['root.path that does not exist', (s) => { s.root!.path = '/nonexistent/berth-rootfs'; }, /^root\.path: .*does not exist/m],
    ['relative mount destination', (s) => { s.mounts![3].destination = 'dev/shm'; }, /^mounts\[3\]\.destination: must be an absolute path/m],
    ['bind mount with a missing source', (s) => { s.mounts!.push({ destination: '/mnt', type: 'bind', source: '/nonexistent/src', options: ['rbind'] }); }, /^mounts\[7\]\.source: .*does not exist/m],
    ['unknown namespace type', (s) => { (s.linux!.namespaces![1] as { type: string }).type = 'bogus'; }, /^linux\.namespaces\[1\]\.type: unknown value "bogus"/m],
    ['duplicate namespace', (s) => { s.linux!.namespaces!.push({ type: 'ipc' }); }, /^linux\.namespaces\[6\]\.type: duplicate namespace "ipc"/m],
    ['relative namespace path', (s) => { s.linux!.namespaces![1].path = 'proc/1/ns/net'; }, /^linux\.namespaces\[1\]\.path: must be an absolute path/m],
    ['unknown capability', (s) => { s.process!.capabilities!.bounding = ['CAP_NOT_A_CAP']; }, /^process\.capabilities\.bounding\[0\]: unknown capability "CAP_NOT_A_CAP"/m],
    ['unknown rlimit', (s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOPE', soft: 1, hard: 1 }]; }, /^process\.rlimits\[0\]\.type: unknown rlimit "RLIMIT_NOPE"/m],
    ['soft rlimit above hard', (s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 4096, hard: 1024 }]; }, /^process\.rlimits\[0\]\.soft: soft limit 4096 exceeds hard limit 1024/m],
    ['bad seccomp action', (s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_BOOM' as never }] }; }, /^linux\.seccomp\.syscalls\[0\]\.action: unknown action "SCMP_ACT_BOOM"/m],
    ['sysctl that is not namespaced', (s) => { s.linux!.sysctl = { 'kernel.foo': '1' }; }, /^linux\.sysctl\["kernel\.foo"\]: is not namespaced/m],
    ['hostname without a uts namespace', (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts'); }, /^hostname: cannot be set without a UTS namespace/m],
    ['uid mappings without a user namespace', (s) => { s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }]; }, /^linux\.uidMappings: id mappings need a user namespace/m],
    ['cgroupsPath escaping with ..', (s) => { s.linux!.cgroupsPath = '/berth-test/../../escape'; }, /^linux\.cgroupsPath: .*escapes the cgroup root/m],
    ['relative cgroupsPath escaping with ..', (s) => { s.linux!.cgroupsPath = '../../x'; }, /^linux\.cgroupsPath: .*escapes/m],
    ['bad device type', (s) => { s.linux!.devices = [{ type: 'z' as never, path: '/dev/zz', major: 1, minor: 3 }]; }, /^linux\.devices\[0\]\.type: unknown value "z"/m],
  ];

  test.each(cases.map(([name, mutate, message]) => ({ name, mutate, message })))('$name', ({ mutate, message }) => {
    expectCreateRejected(makeBundle((s) => mutate(s, '')), message);
  });

  test('root.path that is a symlink (runc refuses it too)', () => {
    const link = path.join(tempDir('berth-link-'), 'rootfs');
    fs.symlinkSync(rootfsCopy(), link);
    expectCreateRejected(makeBundle((s) => { s.root!.path = link; }), /^root\.path: .*is a symlink/m);
    // runc agrees that this bundle is bad.
    const runc = new RuntimeCli('runc');
    const id = uniqueId('runclink');
    try {
      const r = runc.run(['create', '--bundle', makeBundle((s) => { s.root!.path = link; }), id]);
      expect(r.status).not.toBe(0);
    } finally {
      runc.cleanup();
    }
  });

  test('a relative root.path that goes through a symlink', () => {
    const bundle = makeBundle((s) => { s.root!.path = 'rootfs'; });
    fs.symlinkSync(rootfsCopy(), path.join(bundle, 'rootfs'));
    expectCreateRejected(bundle, /^root\.path: .*is a symlink/m);
  });
});

describe('late failures inside berth-init name the field and leave nothing', () => {
  test('a mount whose filesystem type does not exist', () => {
    const rootfs = rootfsCopy();
    expectCreateRejected(makeBundle((s) => {
      s.root!.path = rootfs;
      s.mounts!.push({ destination: '/mnt', type: 'nosuchfs', source: 'none' });
    }), /^mounts\[7\]: mount none on \/mnt \(type nosuchfs\).*no such device/im, uniqueId('late'), [rootfs]);
  });

  test('a createContainer hook that exits 1', () => {
    const rootfs = rootfsCopy();
    expectCreateRejected(makeBundle((s) => {
      s.root!.path = rootfs;
      s.hooks = { createContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'echo hook-said-no >&2; exit 1'] }] };
    }), /^hooks\.createContainer\[0\]: \/bin\/sh exited with status 1: hook-said-no/m, uniqueId('late'), [rootfs]);
  });

  test('a prestart hook that exits 3 (run by berth-run itself, after the init exists)', () => {
    const rootfs = rootfsCopy();
    expectCreateRejected(makeBundle((s) => {
      s.root!.path = rootfs;
      s.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] };
    }), /^hooks\.prestart\[0\]: \/bin\/sh exited with status 3/m, uniqueId('late'), [rootfs]);
  });

  test('a sysctl value the kernel rejects', () => {
    const rootfs = rootfsCopy();
    expectCreateRejected(makeBundle((s) => {
      s.root!.path = rootfs;
      s.linux!.sysctl = { 'net.ipv4.ip_forward': 'not-a-number' };
    }), /^linux\.sysctl\["net\.ipv4\.ip_forward"\]: .*invalid argument/im, uniqueId('late'), [rootfs]);
  });

  test('a device with an impossible path', () => {
    const rootfs = rootfsCopy();
    expectCreateRejected(makeBundle((s) => {
      s.root!.path = rootfs;
      // /proc is mounted before devices are made; nothing can be created below /proc/sys.
      s.linux!.devices = [{ type: 'c', path: '/proc/sys/no-such-dir/dev', major: 1, minor: 3 }];
    }), /^linux\.devices\[0\]: /m, uniqueId('late'), [rootfs]);
  });

  test('a namespace path that does not exist', () => {
    const rootfs = rootfsCopy();
    expectCreateRejected(makeBundle((s) => {
      s.root!.path = rootfs;
      s.linux!.namespaces![1].path = '/proc/999999999/ns/net';
    }), /^linux\.namespaces\[1\]\.path: /m, uniqueId('late'), [rootfs]);
  });
});

describe('commands on containers that do not exist, or with bad arguments', () => {
  test('unknown id for state/start/kill/delete/exec/pause/resume/ps', () => {
    const id = uniqueId('ghost');
    for (const args of [['state', id], ['start', id], ['kill', id, 'KILL'], ['delete', id], ['exec', id, 'true'], ['pause', id], ['resume', id], ['ps', id]]) {
      const r = cli.run(args);
      expect([args.join(' '), r.status === 0]).toEqual([args.join(' '), false]);
      expect(r.stderr).toMatch(new RegExp(`container "${id}" does not exist`));
    }
    // Like runc: a forced delete of an unknown id is not an error (the shim may retry a delete).
    expect(cli.run(['delete', '--force', id]).status).toBe(0);
    expectNothingLeft(id);
  });

  test.each([['../x', true], ['a/b', true], ['/abs', false], ['.', false], ['..', false], ['a\nb', false]])('invalid id %j is refused', (bad, everyCommand) => {
    const bundle = makeBundle(sh('exit 0'));
    const commands = [['create', '--bundle', bundle, bad], ['state', bad]];
    if (everyCommand) commands.push(['run', '--bundle', bundle, bad], ['start', bad], ['kill', bad], ['delete', '--force', bad], ['exec', bad, 'true']);
    for (const args of commands) {
      const r = runRejected(args);
      expect([args[0], r.status === 0]).toEqual([args[0], false]);
      expect(r.stderr).toContain(`container id: ${JSON.stringify(bad)} is invalid`);
    }
    // Nothing was made in or next to --root.
    expect(fs.existsSync(cli.root) ? fs.readdirSync(cli.root).filter((n) => !n.startsWith('.out-')) : []).toEqual([]);
    expect(fs.existsSync(path.join(path.dirname(cli.root), 'x'))).toBe(false);
  });

  test('an id that looks like a flag is not taken as an id', () => {
    const r = runRejected(['create', '--bundle', makeBundle(sh('exit 0')), '-x']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^-x: unknown flag/m);
  });

  test('--preserve-fds abc', () => {
    const id = uniqueId('pfd');
    expectCreateRejected(makeBundle(sh('exit 0')), /^--preserve-fds: "abc" is not a small non-negative integer/m, id, [], ['--preserve-fds', 'abc']);
  });
});

describe('bad requests against a live container leave it unharmed', () => {
  test('a duplicate id: the second create fails, the first container is unaffected and still works', async () => {
    const out = tempDir('berth-out-');
    const id = uniqueId('dup');
    cli.ok(['create', '--bundle', makeBundle((s) => {
      s.process!.args = ['sh', '-c', 'echo first > /out/ran'];
      s.mounts!.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
    }), id]);
    const before = cli.state(id);
    const stateFile = fs.readFileSync(path.join(cli.root, id, 'state.json'), 'utf8');
    const cgroups = cgroupDirsMatching(id);
    expect(cgroups.length).toBeGreaterThan(0);

    const r = cli.run(['create', '--bundle', makeBundle(sh('echo second')), id]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`container with id exists: ${id}`));
    const r2 = cli.run(['run', '--bundle', makeBundle(sh('echo second')), id]);
    expect(r2.status).not.toBe(0);
    expect(r2.stderr).toMatch(/exists/);

    expect(fs.readFileSync(path.join(cli.root, id, 'state.json'), 'utf8')).toBe(stateFile);
    expect(cgroupDirsMatching(id).sort()).toEqual(cgroups.sort());
    expect(cli.state(id)).toEqual(before);
    cli.ok(['start', id]);
    await eventually(() => fs.existsSync(path.join(out, 'ran')), 5000, 'the first container to run');
    expect(fs.readFileSync(path.join(out, 'ran'), 'utf8')).toBe('first\n');
    await eventually(() => cli.state(id).status === 'stopped', 5000, 'stopped');
    cli.ok(['delete', id]);
    expectNothingLeft(id);
  });

  test('a bad signal name for kill, and exec in a stopped container', async () => {
    const id = uniqueId('sig');
    cli.ok(['run', '--detach', '--bundle', makeBundle(sh('exec sleep 60')), id]);
    const { pid } = cli.state(id);
    const r = cli.run(['kill', id, 'SIGNOPE']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/signal: unknown signal "SIGNOPE"/);
    const num = cli.run(['kill', id, '99999']);
    expect(num.status).not.toBe(0);
    expect(num.stderr).toMatch(/^signal: /m);
    expect(cli.state(id)).toMatchObject({ status: 'running', pid });
    expect(processGone(pid)).toBe(false);

    const pfd = cli.run(['exec', '--preserve-fds', 'abc', id, 'true']);
    expect(pfd.status).not.toBe(0);
    expect(pfd.stderr).toMatch(/--preserve-fds/);
    expect(cli.state(id).status).toBe('running');

    cli.ok(['kill', id, 'KILL']);
    await eventually(() => cli.state(id).status === 'stopped', 5000, 'stopped');
    const e = cli.run(['exec', id, 'true']);
    expect(e.status).not.toBe(0);
    expect(e.stderr).toMatch(/cannot exec in a stopped container/);
    cli.ok(['delete', id]);
    expectNothingLeft(id);
  });
});

describe('mount destinations never escape the rootfs', () => {
  /** A host directory the symlinks point at; it must stay empty whatever the container does. */
  function plant(rootfs: string): string {
    const host = tempDir('berth-escape-');
    fs.symlinkSync(host, path.join(rootfs, 'evil'));
    fs.symlinkSync(`../../../../../..${host}`, path.join(rootfs, 'evil2'));
    return host;
  }

  function probeSource(): string {
    const src = tempDir('berth-src-');
    fs.writeFileSync(path.join(src, 'f'), 'from-the-bind-source\n');
    return src;
  }

  /** The mount points of the container, as the container sees them (/proc/self/mountinfo field 5). */
  const mountPoints = (stdout: string) => stdout.split('\n').filter((l) => / - /.test(l)).map((l) => l.split(' ')[4]);

  test('a destination with .. stays inside the rootfs', () => {
    const rootfs = rootfsCopy();
    const host = tempDir('berth-escape-');
    const id = uniqueId('dotdot');
    const r = cli.run(['run', '--bundle', makeBundle((s) => {
      s.root!.path = rootfs;
      s.root!.readonly = false;
      s.mounts!.push({ destination: `/../../../..${host}/z`, type: 'tmpfs', source: 'tmpfs' });
      s.process!.args = ['sh', '-c', `touch ${host}/z/probe && cat /proc/self/mountinfo`];
    }), id]);
    expect(fs.readdirSync(host)).toEqual([]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(mountPoints(r.stdout)).toContain(`${host}/z`);
    expect(fs.statSync(path.join(rootfs, host, 'z')).isDirectory()).toBe(true);
    expectNothingLeft(id, [rootfs, host]);
  });

  /** Mounts onto /evil/x (tmpfs) and /evil2/y (bind), both through the planted links, and probes them. */
  function runThroughPlantedLinks(rootfs: string, prefix: string) {
    const src = probeSource();
    const id = uniqueId(prefix);
    const r = cli.run(['run', '--bundle', makeBundle((s) => {
      s.root!.path = rootfs;
      s.root!.readonly = false;
      s.mounts!.push({ destination: '/evil/x', type: 'tmpfs', source: 'tmpfs' });
      s.mounts!.push({ destination: '/evil2/y', type: 'bind', source: src, options: ['rbind', 'ro'] });
      s.process!.args = ['sh', '-c', 'touch /evil/x/probe && cat /evil2/y/f && cat /proc/self/mountinfo'];
    }), id]);
    return { id, r };
  }

  test('symlinks whose targets exist inside the rootfs are followed inside it', () => {
    const rootfs = rootfsCopy();
    const host = plant(rootfs);
    fs.mkdirSync(path.join(rootfs, host), { recursive: true });
    const { id, r } = runThroughPlantedLinks(rootfs, 'symin');
    expect(fs.readdirSync(host)).toEqual([]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^from-the-bind-source\n/);
    expect(mountPoints(r.stdout)).toEqual(expect.arrayContaining([`${host}/x`, `${host}/y`]));
    expect(fs.readdirSync(path.join(rootfs, host)).sort()).toEqual(['x', 'y']);
    expectNothingLeft(id, [rootfs, host]);
  });

  test('symlinks to targets that do not exist yet: created inside the rootfs, like runc (securejoin + MkdirAllInRoot)', () => {
    const rootfs = rootfsCopy();
    const host = plant(rootfs);
    const { id, r } = runThroughPlantedLinks(rootfs, 'symnew');
    // Whatever happened, nothing reached the host directory and nothing was left behind.
    expect(fs.readdirSync(host)).toEqual([]);
    expectNothingLeft(id, [rootfs, host]);
    // And it worked, with the mounts inside the rootfs.
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^from-the-bind-source\n/);
    expect(mountPoints(r.stdout)).toEqual(expect.arrayContaining([`${host}/x`, `${host}/y`]));
    expect(fs.readdirSync(path.join(rootfs, host)).sort()).toEqual(['x', 'y']);
  });
});
