/**
 * Bundles that runc runs and berth-run once refused or ran wrongly (issue 05), each held to runc's result where
 * runc accepts the bundle, and to the runtime-spec where it does not: seccomp profiles that deny close_range,
 * rootfs propagation, no mount namespace, a joined UTS namespace, controllers the host lacks, long lists, and
 * integers outside their spec type.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Spec } from '../../src/oci/spec/types';
import { compileSeccomp } from '../../src/oci/seccomp/compile';
import { parseSeccomp } from '../../src/oci/seccomp/validate';
import { cgroupMounts, seccompLoader } from '../helpers/host';
import {
  BERTH_RUN, RuntimeCli, cleanupTempDirs, copyRootfs, eventually, makeBundle, mountsMatching, processGone, requireTools, tempDir, uniqueId, type Invocation,
} from '../helpers/oci';

const berth = new RuntimeCli('berth-run');
const runc = new RuntimeCli('runc');

beforeAll(() => requireTools('runc', 'unshare', 'nsenter'));
afterEach(() => {
  berth.cleanup();
  runc.cleanup();
});
afterAll(() => cleanupTempDirs());

type Mutate = (s: Spec) => void;

function runBoth(mutate: Mutate): { ours: Invocation; theirs: Invocation } {
  const bundle = makeBundle(mutate);
  return { ours: berth.run(['run', '--bundle', bundle, uniqueId('c')]), theirs: runc.run(['run', '--bundle', bundle, uniqueId('c')]) };
}

function expectSameAsRunc(mutate: Mutate): Invocation {
  const { ours, theirs } = runBoth(mutate);
  expect({ status: ours.status, stdout: ours.stdout }).toEqual({ status: theirs.status, stdout: theirs.stdout });
  expect(ours.status).toBe(0);
  return ours;
}

/** A state directory left under --root by a refused create: there must be none. */
function expectNothingLeft(cli: RuntimeCli): void {
  expect(fs.readdirSync(cli.root).filter((f) => !f.startsWith('.'))).toEqual([]);
}

/** What busybox echo/sh and both runtimes' last steps (identity, exec) call; close_range is not among them. */
const WORKLOAD_SYSCALLS = [
  'execve', 'exit_group', 'exit', 'write', 'writev', 'brk', 'arch_prctl', 'set_tid_address', 'capset', 'capget', 'prctl',
  'setgroups', 'setresuid', 'setresgid', 'setuid', 'setgid', 'futex', 'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn',
  'sigaltstack', 'getpid', 'gettid', 'tgkill', 'mmap', 'munmap', 'mprotect', 'read', 'close', 'fcntl', 'fstat',
  'newfstatat', 'openat', 'getppid', 'sched_getaffinity', 'nanosleep', 'epoll_pwait', 'epoll_ctl', 'madvise', 'uname',
  'getuid', 'geteuid', 'getgid', 'getegid', 'statfs', 'fstatfs', 'rseq', 'prlimit64', 'getrandom', 'set_robust_list',
  'readlinkat', 'getdents64', 'pread64', 'access', 'faccessat2', 'sched_yield', 'chdir', 'fchdir', 'getcwd', 'ioctl', 'dup3', 'umask',
];
const allowlist = { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: WORKLOAD_SYSCALLS, action: 'SCMP_ACT_ALLOW' }] };

describe('a deny-by-default seccomp profile without close_range (item 1)', () => {
  test.each([false, true])('runs with noNewPrivileges %s, as under runc', (nnp) => {
    const out = expectSameAsRunc((s) => {
      s.process!.noNewPrivileges = nnp;
      s.process!.args = ['echo', 'allowed'];
      s.linux!.seccomp = allowlist as never;
    });
    expect(out.stdout).toBe('allowed\n');
  });

  test('runs as another user with additional groups, the identity change under the filter', () => {
    const out = expectSameAsRunc((s) => {
      s.process!.noNewPrivileges = false;
      s.process!.user = { uid: 1000, gid: 1000, additionalGids: [5, 6] };
      s.process!.args = ['echo', 'as 1000'];
      s.linux!.seccomp = allowlist as never;
    });
    expect(out.stdout).toBe('as 1000\n');
  });

  /** Starts berth-run with fds 3..5 open (a pipe and /dev/null), optionally under a filter of its own. */
  function fdsSeenInside(filter?: { file: string; flags: number }): string {
    const bundle = makeBundle((s) => {
      s.process!.noNewPrivileges = false;
      s.process!.args = ['ls', '/proc/self/fd'];
    });
    const root = tempDir('berth-root-fds-');
    const id = uniqueId('fds');
    const extra = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r')];
    try {
      const argv = ['--root', root, 'run', '--bundle', bundle, id];
      const [cmd, args] = filter ? [seccompLoader(), [filter.file, String(filter.flags), '--', BERTH_RUN, ...argv]] : [BERTH_RUN, argv];
      const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', ...extra], encoding: 'utf8', timeout: 30000 });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      return r.stdout.split(/\s+/).filter(Boolean).sort().join(' ');
    } finally {
      extra.forEach((fd) => fs.closeSync(fd));
      spawnSync(BERTH_RUN, ['--root', root, 'delete', '--force', id]);
    }
  }

  test('leaks none of the caller\'s fds into the container', () => {
    // 0-2, and 3: the directory ls itself reads.
    expect(fdsSeenInside()).toBe('0 1 2 3');
  });

  test.each([['ENOSYS', 38], ['EPERM', 1]])('leaks none either when close_range fails with %s (the /proc/self/fd fallback)', (_name, errno) => {
    // berth-run itself, berth-init and the container all run under a filter that makes close_range fail.
    const profile = parseSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['close_range'], action: 'SCMP_ACT_ERRNO', errnoRet: errno }] }, 'profile');
    const compiled = compileSeccomp(profile);
    const file = path.join(tempDir('berth-filter-'), 'filter.bpf');
    fs.writeFileSync(file, compiled.program);
    expect(fdsSeenInside({ file, flags: compiled.flags })).toBe('0 1 2 3');
  });
});

/** The optional fields of the container's "/" line in mountinfo: its propagation as the kernel reports it. */
const ROOT_PROPAGATION = `awk '$5 == "/" { for (i = 7; $i != "-"; i++) printf "%s ", $i; print "." }' /proc/self/mountinfo | sed 's/:[0-9]*//g'`;

describe('linux.rootfsPropagation (item 2)', () => {
  test.each([
    ['shared', 'shared .'],
    ['rshared', 'shared .'],
    ['unbindable', 'unbindable .'],
    ['private', '.'],
    ['rprivate', '.'],
    ['slave', '.'],
    ['rslave', '.'],
  ])('%s: the container starts and its root has that propagation', (value, expected) => {
    const bundle = makeBundle((s) => {
      s.linux!.rootfsPropagation = value as never;
      s.process!.args = ['sh', '-c', ROOT_PROPAGATION];
    });
    const r = berth.run(['run', '--bundle', bundle, uniqueId('prop')]);
    expect({ status: r.status, stderr: r.stderr, stdout: r.stdout.trim() }).toEqual({ status: 0, stderr: '', stdout: expected });
  });

  test('shared and rshared run under runc too (which leaves the new root private)', () => {
    for (const value of ['shared', 'rshared'] as const) {
      const r = runc.run(['run', '--bundle', makeBundle((s) => { s.linux!.rootfsPropagation = value; s.process!.args = ['true']; }), uniqueId('prop')]);
      expect(r.status).toBe(0);
    }
  });
});

describe('no mount namespace: the runtime\'s own is inherited (item 3)', () => {
  const withoutMountNs = (rootfs: string, script: string): Mutate => (s) => {
    s.root!.path = rootfs;
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount');
    delete s.linux!.maskedPaths;
    delete s.linux!.readonlyPaths;
    s.process!.args = ['sh', '-c', script];
  };

  test('runs as under runc, and delete leaves no mount behind (runc leaves them)', () => {
    const rootfs = copyRootfs();
    const script = 'ls /; cat /etc/hostname 2>/dev/null; test -c /dev/null && echo devices; grep -c " /proc " /proc/self/mountinfo';
    const bundle = makeBundle(withoutMountNs(rootfs, script));
    const id = uniqueId('nons');
    const ours = berth.run(['run', '--bundle', bundle, id]);
    expect(mountsMatching(rootfs)).toEqual([]);
    const rid = uniqueId('nons');
    const theirs = runc.run(['run', '--bundle', bundle, rid]);
    runc.run(['delete', '--force', rid]);
    const runcLeft = mountsMatching(rootfs);
    // runc's leftovers are ours to remove (lazily, deepest first), so that the suite leaves nothing.
    for (const line of runcLeft.reverse()) spawnSync('umount', ['-l', line.split(' ')[4].replace(/\\040/g, ' ')]);
    expect({ status: ours.status, stdout: ours.stdout }).toEqual({ status: theirs.status, stdout: theirs.stdout });
    expect(ours.stdout).toContain('devices');
    expect(runcLeft.length).toBeGreaterThan(0);
  });

  test('exec sees the container\'s root, and delete after the process was killed removes every mount', async () => {
    const rootfs = copyRootfs();
    fs.writeFileSync(path.join(rootfs, 'marker'), 'inside\n');
    const bundle = makeBundle(withoutMountNs(rootfs, 'sleep 60'));
    const id = uniqueId('nons');
    berth.ok(['run', '--detach', '--bundle', bundle, id]);
    expect(mountsMatching(rootfs).length).toBeGreaterThan(3);
    expect(berth.ok(['exec', id, 'cat', '/marker']).stdout).toBe('inside\n');
    const pid = berth.state(id).pid;
    process.kill(pid, 'SIGKILL');
    await eventually(() => processGone(pid), 10000, 'the container to die');
    berth.ok(['delete', id]);
    expect(mountsMatching(rootfs)).toEqual([]);
  });

  test('a create that dies half-way is cleaned by delete --force', async () => {
    const rootfs = copyRootfs();
    const bundle = makeBundle((s) => {
      withoutMountNs(rootfs, 'true')(s);
      // The hook holds the create after the mounts exist; the create is killed there.
      s.hooks = { createContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'sleep 60'] }] };
    });
    const id = uniqueId('nons');
    const child = spawn(BERTH_RUN, ['--root', berth.root, 'create', '--bundle', bundle, id], { stdio: 'ignore' });
    try {
      await eventually(() => mountsMatching(rootfs).length > 3, 15000, 'the mounts of the half-made container');
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    berth.ok(['delete', '--force', id]);
    expect(mountsMatching(rootfs)).toEqual([]);
  });

  test.each(['maskedPaths', 'readonlyPaths'] as const)('%s are refused, naming the field, as runc refuses them', (field) => {
    const bundle = makeBundle((s) => {
      withoutMountNs(copyRootfs(), 'true')(s);
      s.linux![field] = ['/proc/kcore'];
    });
    const r = berth.run(['run', '--bundle', bundle, uniqueId('nons')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^linux\\.${field}: need a mount namespace`));
    expectNothingLeft(berth);
    expect(runc.run(['run', '--bundle', bundle, uniqueId('nons')]).status).not.toBe(0);
  });
});

describe('hostname in a joined UTS namespace (item 4)', () => {
  test('is set in that namespace, as runc does, and the host keeps its own', () => {
    const dir = tempDir('berth-uts-');
    const nsFile = path.join(dir, 'uts');
    fs.writeFileSync(nsFile, '');
    const made = spawnSync('unshare', [`--uts=${nsFile}`, 'true'], { encoding: 'utf8' });
    expect(made.stderr).toBe('');
    const host = fs.readFileSync('/proc/sys/kernel/hostname', 'utf8');
    try {
      for (const cli of [runc, berth]) {
        const out = expectJoined(cli, nsFile, `joined-${cli.peer}`);
        expect(out).toBe(`joined-${cli.peer}\n`);
        expect(spawnSync('nsenter', [`--uts=${nsFile}`, 'hostname'], { encoding: 'utf8' }).stdout).toBe(`joined-${cli.peer}\n`);
      }
    } finally {
      spawnSync('umount', [nsFile]);
    }
    expect(fs.readFileSync('/proc/sys/kernel/hostname', 'utf8')).toBe(host);
  });

  function expectJoined(cli: RuntimeCli, nsFile: string, name: string): string {
    const bundle = makeBundle((s) => {
      s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'uts' ? { type: 'uts', path: nsFile } : n));
      s.hostname = name;
      s.process!.args = ['hostname'];
    });
    return cli.ok(['run', '--bundle', bundle, uniqueId('uts')]).stdout;
  }

  test('without any UTS namespace it is refused, naming the field', () => {
    const bundle = makeBundle((s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts');
      s.hostname = 'nope';
    });
    const r = berth.run(['run', '--bundle', bundle, uniqueId('uts')]);
    expect(r.stderr).toMatch(/^hostname: cannot be set without a UTS namespace/);
    expect(runc.run(['run', '--bundle', bundle, uniqueId('uts')]).status).not.toBe(0);
  });
});

/** A v1 hierarchy for this controller is mounted here, or the cgroup2 hierarchy offers it. */
function hostHasController(name: string): boolean {
  const m = cgroupMounts();
  return m.v1.has(name) || !!m.v2?.controllers.includes(name);
}

describe('limits for a controller the host does not have (item 5)', () => {
  const cases: [string, string, Mutate][] = [
    ['net_cls', 'linux.resources.network.classID', (s) => { s.linux!.resources = { network: { classID: 0x100001 } }; }],
    ['net_prio', 'linux.resources.network.priorities', (s) => { s.linux!.resources = { network: { priorities: [{ name: 'lo', priority: 3 }] } }; }],
    ['rdma', 'linux.resources.rdma', (s) => { s.linux!.resources = { rdma: { mlx5_0: { hcaHandles: 2 } } }; }],
  ];
  test.each(cases)('%s: refused with the field named when absent, applied when present', (controller, field, mutate) => {
    const bundle = makeBundle((s) => {
      mutate(s);
      s.process!.args = ['true'];
    });
    const r = berth.run(['run', '--bundle', bundle, uniqueId('cg')]);
    if (hostHasController(controller)) {
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    } else {
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`${field}: the ${controller} controller is not available on this host`);
      expectNothingLeft(berth);
      // runc refuses it too.
      expect(runc.run(['run', '--bundle', bundle, uniqueId('cg')]).status).not.toBe(0);
    }
  });

  test('memory.useHierarchy is applied, not dropped: false is refused by a kernel that is always hierarchical', () => {
    const r = berth.run(['run', '--bundle', makeBundle((s) => { s.linux!.resources = { memory: { useHierarchy: false } }; s.process!.args = ['true']; }), uniqueId('cg')]);
    const v1 = fs.existsSync('/sys/fs/cgroup/memory/memory.use_hierarchy');
    const kernelTakesZero = v1 && fs.readFileSync('/sys/fs/cgroup/memory/memory.use_hierarchy', 'utf8').trim() === '0';
    if (kernelTakesZero) expect(r.status).toBe(0);
    else expect(r.stderr).toContain('linux.resources.memory.useHierarchy');
    const t = berth.run(['run', '--bundle', makeBundle((s) => { s.linux!.resources = { memory: { useHierarchy: true } }; s.process!.args = ['true']; }), uniqueId('cg')]);
    expect({ status: t.status, stderr: t.stderr }).toEqual({ status: 0, stderr: '' });
  });
});

describe('long lists, as long as the kernel takes (item 6)', () => {
  test('1,100 args, 5,000 env vars and 100 additional gids run as under runc', () => {
    const out = expectSameAsRunc((s) => {
      s.process!.args = ['sh', '-c', 'echo $#; env | grep -c "^V[0-9]*=x$"; id -G | wc -w', 'sh', ...Array.from({ length: 1100 }, (_, i) => `a${i}`)];
      s.process!.env!.push(...Array.from({ length: 5000 }, (_, i) => `V${i}=x`));
      s.process!.user.additionalGids = Array.from({ length: 100 }, (_, i) => 2000 + i);
    });
    expect(out.stdout).toBe('1100\n5000\n101\n');
  });

  test('many mounts, devices and hooks', () => {
    const dir = tempDir('berth-many-');
    const out = expectSameAsRunc((s) => {
      s.mounts!.push(...Array.from({ length: 300 }, (_, i) => ({ destination: `/m/${i}`, type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] })));
      s.linux!.devices = Array.from({ length: 300 }, (_, i) => ({ type: 'c' as const, path: `/dev/n${i}`, major: 1, minor: 3, fileMode: 0o666 }));
      s.hooks = { createContainer: Array.from({ length: 40 }, (_, i) => ({ path: '/bin/sh', args: ['sh', '-c', `true ${i}`] })) };
      s.process!.args = ['sh', '-c', 'ls /m | wc -l; ls /dev | grep -c "^n[0-9]"'];
    });
    expect(out.stdout).toBe('300\n300\n');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('beyond the kernel\'s limits: refused at create, naming the field, nothing left behind', () => {
    const env = makeBundle((s) => { s.process!.env = [...s.process!.env!, ...Array.from({ length: 200000 }, (_, i) => `V${i}=xxxxxxxxxx`)]; });
    const r = berth.run(['create', '--bundle', env, uniqueId('big')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^process\.env: 200002 entries \(\d+ bytes with the arguments\) exceed the kernel's limit/);
    const one = makeBundle((s) => { s.process!.args = ['echo', 'x'.repeat(200000)]; });
    expect(berth.run(['create', '--bundle', one, uniqueId('big')]).stderr).toMatch(/^process\.args\[1\]: is 200000 bytes long/);
    const gids = makeBundle((s) => { s.process!.user.additionalGids = Array.from({ length: 70000 }, (_, i) => i); });
    expect(berth.run(['create', '--bundle', gids, uniqueId('big')]).stderr).toMatch(/^process\.user\.additionalGids: 70000 groups exceed the kernel's NGROUPS_MAX/);
    expectNothingLeft(berth);
  });
});

/** config.json with `raw` spliced in as the text of one field, so that the JSON number is exactly as written. */
function bundleWithRaw(mutate: Mutate, marker: string, raw: string): string {
  const dir = makeBundle(mutate);
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(JSON.stringify(marker), raw));
  return dir;
}

describe('integers checked against their spec type at create (item 7)', () => {
  const cases: [string, string, Mutate, string][] = [
    ['process.rlimits[0].hard', '1e30', (s) => { s.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 1, hard: 'HERE' as never }]; }, 'uint64'],
    ['process.rlimits[0].soft', '18446744073709551616', (s) => { s.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 'HERE' as never, hard: 1 }]; }, 'uint64'],
    ['process.rlimits[0].soft', '-1', (s) => { s.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 'HERE' as never, hard: 1 }]; }, 'uint64'],
    ['process.user.uid', '4294967296', (s) => { s.process!.user.uid = 'HERE' as never; }, ''],
    ['linux.resources.memory.limit', '9223372036854775808', (s) => { s.linux!.resources = { memory: { limit: 'HERE' as never } }; }, 'int64'],
    ['linux.resources.cpu.shares', '-2', (s) => { s.linux!.resources = { cpu: { shares: 'HERE' as never } }; }, 'uint64'],
    ['linux.resources.blockIO.weight', '65536', (s) => { s.linux!.resources = { blockIO: { weight: 'HERE' as never } }; }, 'uint16'],
    ['linux.resources.pids.limit', '1e19', (s) => { s.linux!.resources = { pids: { limit: 'HERE' as never } }; }, 'int64'],
  ];
  test.each(cases)('%s = %s is refused by both runtimes at create', (field, raw, mutate, type) => {
    const bundle = bundleWithRaw(mutate, 'HERE', raw);
    const r = berth.run(['create', '--bundle', bundle, uniqueId('int')]);
    expect(r.status).toBe(1);
    expect(r.stderr.startsWith(`${field}: `)).toBe(true);
    if (type) expect(r.stderr).toContain(type);
    expectNothingLeft(berth);
    expect(runc.run(['create', '--bundle', bundle, uniqueId('int')]).status).not.toBe(0);
  });

  test('2^64-1 (unlimited) stays exact: RLIMIT_CORE unlimited as under runc', () => {
    const max = '18446744073709551615';
    const mutate: Mutate = (s) => {
      s.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 'SOFT' as never, hard: 'HARD' as never }];
      s.process!.args = ['sh', '-c', 'ulimit -c; ulimit -Hc'];
    };
    const bundle = bundleWithRaw((s) => mutate(s), 'SOFT', max);
    const file = path.join(bundle, 'config.json');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"HARD"', max));
    const ours = berth.run(['run', '--bundle', bundle, uniqueId('int')]);
    const theirs = runc.run(['run', '--bundle', bundle, uniqueId('int')]);
    expect(ours).toEqual(theirs);
    expect(ours.stdout).toBe('unlimited\nunlimited\n');
  });
});

describe('a foreground run (README: "differs from runc")', () => {
  test('its waiting parent is outside the container\'s cgroups: ps lists the container\'s processes only', async () => {
    const bundle = makeBundle((s) => { s.process!.args = ['sleep', '30']; });
    const id = uniqueId('fg');
    const child = spawn(BERTH_RUN, ['--root', berth.root, 'run', '--bundle', bundle, id], { stdio: 'ignore' });
    try {
      await eventually(() => berth.run(['state', id]).stdout.includes('"running"'), 15000, 'the container to run');
      const pids = berth.ok(['ps', '--format', 'json', id]).stdout;
      expect(JSON.parse(pids)).toEqual([berth.state(id).pid]);
    } finally {
      berth.run(['kill', id, 'KILL']);
      await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
      berth.run(['delete', '--force', id]);
    }
  });

  test('with terminal true and no terminal of its own it fails at once, as runc does', () => {
    const { ours, theirs } = runBoth((s) => { s.process!.terminal = true; s.process!.args = ['sh']; });
    expect(theirs.status).toBe(1);
    expect(ours.status).toBe(1);
    expect(ours.stderr).toMatch(/^process\.terminal: .*open \/dev\/tty failed/);
  });
});

describe('runtime.md hook order', () => {
  test('prestart and createRuntime hooks run once the container\'s mounts exist, before the pivot, as under runc', () => {
    const dir = tempDir('berth-hooks-');
    // The hook finds the container's pid in the state on stdin, and whether its /proc is mounted under the rootfs yet.
    const probe = (name: string) => ({
      path: '/bin/sh',
      args: ['sh', '-c', `pid=$(sed 's/.*"pid":\\([0-9]*\\).*/\\1/'); if grep -q " $1/proc " /proc/$pid/mountinfo; then echo mounted; else echo missing; fi >> ${dir}/$2`, 'hook', '', name],
    });
    for (const cli of [runc, berth]) {
      const rootfs = copyRootfs();
      const hooks = { prestart: [probe(`${cli.peer}-prestart`)], createRuntime: [probe(`${cli.peer}-createRuntime`)] };
      hooks.prestart[0].args[4] = rootfs;
      hooks.createRuntime[0].args[4] = rootfs;
      cli.ok(['run', '--bundle', makeBundle((s) => { s.root!.path = rootfs; s.hooks = hooks; s.process!.args = ['true']; }), uniqueId('hooks')]);
    }
    const seen = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
    expect([seen('runc-prestart'), seen('runc-createRuntime')]).toEqual(['mounted\n', 'mounted\n']);
    expect([seen('berth-run-prestart'), seen('berth-run-createRuntime')]).toEqual(['mounted\n', 'mounted\n']);
  });
});

describe('process.scheduler and process.execCPUAffinity (runtime-spec 1.2)', () => {
  // /proc/self/stat: field 19 is the nice value, 40 the real-time priority, 41 the policy (sched(7)'s numbers).
  const SCHED = "awk '{print $19, $40, $41}' /proc/self/stat; grep Cpus_allowed_list /proc/self/status";

  test.each([
    ['SCHED_BATCH with nice 5', { policy: 'SCHED_BATCH', nice: 5 }, '5 0 3'],
    // (Real-time policies need cpu.rt_runtime_us in the container's cgroup where RT group scheduling is on.)
    ['SCHED_OTHER with nice -5', { policy: 'SCHED_OTHER', nice: -5 }, '-5 0 0'],
    ['SCHED_IDLE', { policy: 'SCHED_IDLE' }, '0 0 5'],
  ])('%s is what the process runs with', (_name, scheduler, expected) => {
    const bundle = makeBundle((s) => {
      s.ociVersion = '1.2.0';
      s.process!.scheduler = scheduler;
      s.process!.execCPUAffinity = { final: '0' };
      s.process!.args = ['sh', '-c', SCHED];
    });
    const r = berth.run(['run', '--bundle', bundle, uniqueId('sched')]);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toBe(`${expected}\nCpus_allowed_list:\t0\n`);
  });

  test.each([
    ['process.scheduler.priority', { policy: 'SCHED_RR', priority: 0 }],
    ['process.scheduler.nice', { policy: 'SCHED_OTHER', nice: 20 }],
    ['process.scheduler.policy', { policy: 'SCHED_ISO' }],
    ['process.scheduler.runtime', { policy: 'SCHED_DEADLINE' }],
    ['process.scheduler.flags[0]', { policy: 'SCHED_OTHER', flags: ['SCHED_FLAG_NOPE'] }],
  ])('a bad %s is refused at create', (field, scheduler) => {
    const r = berth.run(['create', '--bundle', makeBundle((s) => { s.process!.scheduler = scheduler as never; }), uniqueId('sched')]);
    expect(r.status).toBe(1);
    expect(r.stderr.startsWith(`${field}: `)).toBe(true);
    expectNothingLeft(berth);
  });

  test('a bad CPU list is refused, naming the field', () => {
    const r = berth.run(['create', '--bundle', makeBundle((s) => { s.process!.execCPUAffinity = { initial: '3-1' }; }), uniqueId('sched')]);
    expect(r.stderr).toMatch(/^process\.execCPUAffinity\.initial: "3-1" is not a range of CPUs/);
  });
});

describe('linux.devices over a file the rootfs already has (config-linux: a mismatch is an error)', () => {
  test('the same device node is kept and given the requested mode; any other file is refused, naming the entry', () => {
    const rootfs = copyRootfs();
    fs.mkdirSync(path.join(rootfs, 'opt'), { recursive: true });
    expect(spawnSync('mknod', ['-m', '600', path.join(rootfs, 'opt', 'null'), 'c', '1', '3']).status).toBe(0);
    fs.writeFileSync(path.join(rootfs, 'opt', 'plain'), 'not a device\n');
    const device = (p: string) => ({ type: 'c' as const, path: p, major: 1, minor: 3, fileMode: 0o640, uid: 0, gid: 0 });
    const ok = berth.run(['run', '--bundle', makeBundle((s) => {
      s.root!.path = rootfs;
      s.linux!.devices = [device('/opt/null')];
      s.process!.args = ['stat', '-c', '%F %t:%T %a', '/opt/null'];
    }), uniqueId('dev')]);
    expect({ status: ok.status, stdout: ok.stdout, stderr: ok.stderr }).toEqual({ status: 0, stdout: 'character special file 1:3 640\n', stderr: '' });
    const bad = berth.run(['run', '--bundle', makeBundle((s) => {
      s.root!.path = rootfs;
      s.linux!.devices = [device('/opt/null'), device('/opt/plain')];
      s.process!.args = ['true'];
    }), uniqueId('dev')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^linux\.devices\[1\]: \/opt\/plain already exists in the rootfs and is not that device/);
    expect(fs.readFileSync(path.join(rootfs, 'opt', 'plain'), 'utf8')).toBe('not a device\n');
  });
});
