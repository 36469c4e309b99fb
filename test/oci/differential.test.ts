/**
 * Differential tests: the same bundle under berth-run and Debian's runc, probed from inside the container.
 * Every probe's output must match runc's after removing what legitimately differs between two runs
 * (mount ids, device numbers of fresh tmpfs instances, times).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Spec } from '../../src/oci/spec/types';
import { cgroupV1, itIf, timeNamespaces, userNamespaces } from '../helpers/host';
import { addNetns, deleteNetns, restoreRunNetns } from '../helpers/netns';
import { PEER_BINARY, RuntimeCli, cleanupTempDirs, eventually, fixtureRootfs, makeBundle, requireTools, tempDir, uniqueId, type Invocation } from '../helpers/oci';

const berth = new RuntimeCli('berth-run');
const runc = new RuntimeCli('runc');

beforeAll(() => requireTools('runc', 'crun', 'ip', 'unshare'));
afterEach(() => {
  berth.cleanup();
  runc.cleanup();
});
afterAll(() => cleanupTempDirs());

type Mutate = (s: Spec) => void;

/** Runs `script` as the container's process under both runtimes; returns both results. */
function both(script: string, mutate: Mutate = () => undefined): { ours: Invocation; theirs: Invocation } {
  const bundle = makeBundle((s) => {
    s.process!.args = ['sh', '-c', script];
    mutate(s);
  });
  return { ours: berth.run(['run', '--bundle', bundle, uniqueId('d')]), theirs: runc.run(['run', '--bundle', bundle, uniqueId('d')]) };
}

function expectSame(script: string, mutate?: Mutate, normalize: (s: string) => string = (s) => s): string {
  const { ours, theirs } = both(script, mutate);
  expect({ status: ours.status, stdout: normalize(ours.stdout), stderr: ours.stderr }).toEqual({ status: theirs.status, stdout: normalize(theirs.stdout), stderr: theirs.stderr });
  return ours.stdout;
}

/** mountinfo without ids, device numbers and tmpfs sizes; our deliberate extras under /sys/fs/cgroup removed. */
function normalizeMountinfo(text: string): string {
  return text.split('\n').filter((l) => l && !/ \/sys\/fs\/cgroup/.test(l)).map((l) => {
    const f = l.split(' ');
    const sep = f.indexOf('-');
    return [f[3], f[4], f[5], f[sep + 1], f[sep + 2]].join(' ');
  }).join('\n');
}

const statusFields = 'grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):" /proc/self/status';

describe('berth-run matches runc, probe by probe', () => {
  test('capabilities, no_new_privs and seccomp status of the default spec', () => {
    const out = expectSame(statusFields);
    expect(out).toMatch(/CapBnd:\s+00000000200004[0-9a-f]{2}/);
  });

  test('capabilities when the spec asks for many, and no_new_privs off', () => {
    expectSame(statusFields, (s) => {
      const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_NET_RAW', 'CAP_SYS_ADMIN', 'CAP_SETUID', 'CAP_SETGID'];
      s.process!.capabilities = { bounding: caps, effective: caps.slice(0, 3), permitted: caps, inheritable: caps.slice(0, 2), ambient: ['CAP_CHOWN'] };
      s.process!.noNewPrivileges = false;
    });
  });

  test('user, groups, umask, cwd and environment', () => {
    expectSame('id; umask; pwd; env | sort', (s) => {
      s.process!.user = { uid: 1000, gid: 1000, additionalGids: [5, 65534], umask: 0o027 };
      s.process!.cwd = '/home/user';
      s.process!.env = ['PATH=/bin:/usr/bin', 'FOO=bar baz'];
    });
  });

  test('hostname; domainname (which runc 1.1 ignores and the spec asks for)', () => {
    const { ours, theirs } = both('hostname; cat /proc/sys/kernel/domainname', (s) => {
      s.hostname = 'probe-host';
      s.domainname = 'example.org';
    });
    expect(ours.stdout).toBe('probe-host\nexample.org\n');
    expect(theirs.stdout).toBe('probe-host\n(none)\n');
  });

  test('mount table', () => {
    const out = expectSame('cat /proc/self/mountinfo', undefined, normalizeMountinfo);
    expect(out).toMatch(/ \/proc /);
  });

  test('mount table with binds, read-only binds, propagation and a read-write root', () => {
    const src = tempDir();
    fs.writeFileSync(path.join(src, 'file'), 'data');
    expectSame('cat /proc/self/mountinfo; cat /data/file /one; touch /ro/x 2>&1; touch /x && echo root-writable && rm /x', (s) => {
      s.root!.readonly = false;
      s.mounts!.push(
        { destination: '/data', type: 'bind', source: src, options: ['rbind', 'rw', 'rprivate'] },
        { destination: '/ro', type: 'bind', source: src, options: ['bind', 'ro', 'nosuid', 'nodev'] },
        { destination: '/one', type: 'bind', source: path.join(src, 'file'), options: ['bind', 'ro'] },
        { destination: '/tmpfs', type: 'tmpfs', source: 'tmpfs', options: ['noexec', 'mode=700', 'size=1m'] },
      );
    }, (t) => normalizeMountinfo(t.replace(/\/[^\s]*berth-test-[^\s/]+/g, 'SRC')));
    fs.rmSync(path.join(src, 'x'), { force: true });
  });

  test('masked and read-only paths', () => {
    expectSame([
      'cat /proc/kcore >/dev/null 2>&1 && echo kcore-readable || echo kcore-masked',
      'ls /proc/acpi | wc -l',
      'echo 1 > /proc/sys/vm/drop_caches 2>/dev/null && echo sys-writable || echo sys-readonly',
      'ls /sys/firmware | wc -l',
      'touch /etc/x 2>/dev/null && echo root-writable || echo root-readonly',
    ].join('; '));
  });

  test('device nodes', () => {
    expectSame('ls -l /dev /dev/pts | sed -E "s/ [A-Z][a-z]{2} +[0-9]+ [0-9:]+ / /"', (s) => {
      s.linux!.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o640, uid: 0, gid: 5 }];
    });
  });

  test('rlimits and oom_score_adj', () => {
    expectSame('ulimit -a; cat /proc/self/oom_score_adj', (s) => {
      s.process!.oomScoreAdj = 500;
      s.process!.rlimits = [
        { type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 },
        { type: 'RLIMIT_NPROC', soft: 100, hard: 200 },
        { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
      ];
    });
  });

  // The probes read cgroup v1 files (/sys/fs/cgroup/memory/…): a cgroup v2-only host has none of them.
  itIf(cgroupV1('memory', 'pids', 'cpu', 'cpuset'))('cgroup limits as the kernel sees them, from inside the container', () => {
    expectSame([
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.soft_limit_in_bytes',
      'cat /sys/fs/cgroup/pids/pids.max',
      'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares',
      'cat /sys/fs/cgroup/cpuset/cpuset.cpus',
      'cat /proc/self/cgroup | grep -E ":(memory|pids|cpu,cpuacct|cpu):"',
    ].join('; '), (s) => {
      s.linux!.resources = {
        ...s.linux!.resources,
        memory: { limit: 64 * 1024 * 1024, reservation: 32 * 1024 * 1024 },
        pids: { limit: 30 },
        cpu: { quota: 50000, period: 100000, shares: 512, cpus: '0' },
      };
    });
  });

  test('sysctls', () => {
    expectSame('cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax', (s) => {
      s.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '65536' };
    });
  });

  test('seccomp: status and effect', () => {
    expectSame(`${statusFields}; mkdir /tmp/x 2>&1; echo status=$?`, (s) => {
      s.root!.readonly = false;
      s.linux!.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      };
    });
  });

  test('exit codes', () => {
    for (const code of [0, 1, 42, 255]) expectSame(`exit ${code}`);
  });

  test('a process killed by a signal (no pid namespace)', () => {
    expectSame('kill -TERM $$', (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid');
    });
  });
});

describe('running containers behave like runc\'s', () => {
  async function detached(cli: RuntimeCli, bundle: string): Promise<string> {
    const id = uniqueId('run');
    cli.ok(['run', '-d', '--bundle', bundle, id]);
    await eventually(() => cli.state(id).status === 'running');
    return id;
  }

  test('exec into a running container sees the same world', async () => {
    const bundle = makeBundle((s) => { s.process!.args = ['sleep', '60']; s.hostname = 'exec-probe'; });
    const ours = await detached(berth, bundle);
    const theirs = await detached(runc, bundle);
    for (const argv of [
      ['sh', '-c', `hostname; id; ${statusFields}; cat /proc/1/cmdline | tr "\\0" " "`],
      ['--user', '1000:1000', '--cwd', '/tmp', 'sh', '-c', 'id; pwd'],
      ['--env', 'A=b', 'sh', '-c', 'echo $A; exit 3'],
      ['/no/such/binary'],
    ]) {
      const a = berth.run(['exec', ...argv.slice(0, -argv.length + countFlags(argv)), ours, ...argv.slice(countFlags(argv))]);
      const b = runc.run(['exec', ...argv.slice(0, -argv.length + countFlags(argv)), theirs, ...argv.slice(countFlags(argv))]);
      expect({ status: a.status === 0 ? 0 : a.status, stdout: a.stdout }).toEqual({ status: b.status === 0 ? 0 : b.status, stdout: b.stdout });
    }
  });

  test('signals, pause and resume, and the states they lead to', async () => {
    const bundle = makeBundle((s) => { s.process!.args = ['sh', '-c', 'trap "exit 9" USR1; while true; do sleep 0.05; done']; });
    for (const cli of [berth, runc]) {
      const id = await detached(cli, bundle);
      cli.ok(['pause', id]);
      expect(cli.state(id).status).toBe('paused');
      cli.ok(['resume', id]);
      expect(cli.state(id).status).toBe('running');
      cli.ok(['kill', id, 'USR1']);
      await eventually(() => cli.state(id).status === 'stopped', 5000, `${cli.peer} stopped`);
      cli.ok(['delete', id]);
    }
  });
});

/** Leading exec flags (with their values) before the command. */
function countFlags(argv: string[]): number {
  let i = 0;
  while (i < argv.length && argv[i].startsWith('--')) i += 2;
  return i;
}

describe('namespaces, by creation and by path', () => {
  itIf(userNamespaces())('a user namespace with id mappings', () => {
    const rootfs = tempDir('berth-userns-');
    // A private copy owned by the mapped root, as a runtime user would prepare it.
    fs.cpSync(makeBundleRootfs(), rootfs, { recursive: true, verbatimSymlinks: true });
    chownTree(rootfs, 100000, 100000);
    expectSame('id; cat /proc/self/uid_map /proc/self/gid_map; ls -ln /home | tail -1 | cut -c1-40; ' + statusFields, (s) => {
      s.root = { path: rootfs, readonly: true };
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      // sysfs and a cgroup namespace's cgroup mounts need more than a user namespace allows here.
      s.mounts = s.mounts!.filter((m) => m.destination !== '/sys/fs/cgroup');
      s.mounts!.find((m) => m.destination === '/sys')!.type = 'bind';
      s.mounts!.find((m) => m.destination === '/sys')!.source = '/sys';
      s.mounts!.find((m) => m.destination === '/sys')!.options = ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'];
    });
  });

  test('joining a network namespace by path', () => {
    const name = `berth-test-${process.pid}`;
    addNetns(name);
    try {
      // A per-namespace sysctl tells this namespace from any other.
      execFileSync('ip', ['netns', 'exec', name, 'sh', '-c', 'echo 77 > /proc/sys/net/ipv4/ip_default_ttl']);
      const out = expectSame('cat /proc/sys/net/ipv4/ip_default_ttl', (s) => {
        s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'network' ? { type: 'network', path: `/var/run/netns/${name}` } : n));
      });
      expect(out).toBe('77\n');
    } finally {
      deleteNetns(name);
      restoreRunNetns();
    }
  });

  test('--no-pivot gives the same view', () => {
    const bundle = makeBundle((s) => { s.process!.args = ['sh', '-c', 'ls /; grep -v " /sys/fs/cgroup" /proc/self/mountinfo | wc -l']; });
    const ours = berth.run(['run', '--no-pivot', '--bundle', bundle, uniqueId('np')]);
    const theirs = runc.run(['run', '--no-pivot', '--bundle', bundle, uniqueId('np')]);
    expect(ours).toEqual(theirs);
  });

  test('--preserve-fds passes extra descriptors as 3, 4, …', () => {
    const dir = tempDir();
    const bundle = makeBundle((s) => { s.process!.args = ['sh', '-c', 'cat <&3; cat <&4; ls /proc/self/fd | sort -n | tr "\\n" " "']; });
    const results = [berth, runc].map((cli) => {
      fs.writeFileSync(path.join(dir, 'a'), 'first\n');
      fs.writeFileSync(path.join(dir, 'b'), 'second\n');
      const r = spawnSync('sh', ['-c', `exec 3<${dir}/a 4<${dir}/b; exec "$@"`, 'sh', PEER_BINARY[cli.peer], '--root', cli.root, 'run', '--preserve-fds', '2', '--bundle', bundle, uniqueId('fds')], { encoding: 'utf8' });
      return { status: r.status, stdout: r.stdout };
    });
    expect(results[0]).toEqual(results[1]);
    expect(results[0].stdout).toMatch(/^first\nsecond\n0 1 2 3 4 /);
  });

  itIf(timeNamespaces())('a time namespace with clock offsets', () => {
    const { ours } = both('cat /proc/self/timens_offsets; cut -d" " -f1 /proc/uptime', (s) => {
      s.linux!.namespaces!.push({ type: 'time' });
      s.linux!.timeOffsets = { boottime: { secs: 86400 * 365, nanosecs: 0 }, monotonic: { secs: 1000 } };
    });
    expect(ours.stdout).toMatch(/^monotonic\s+1000\s+0\nboottime\s+31536000\s+0\n/);
    const uptime = Number(ours.stdout.trim().split('\n').pop());
    expect(uptime).toBeGreaterThan(86400 * 365);
  });
});

describe('security modules', () => {
  const lsm = (() => { try { return fs.readFileSync('/sys/kernel/security/lsm', 'utf8'); } catch { return ''; } })();
  test('asking for a security module the kernel does not run is a clear error (or applied when it runs)', () => {
    for (const [field, value, name] of [['apparmorProfile', 'berth-test', 'apparmor'], ['selinuxLabel', 'system_u:system_r:container_t:s0', 'selinux']] as const) {
      const id = uniqueId('lsm');
      const r = berth.run(['run', '--bundle', makeBundle((s) => { s.process![field] = value; s.process!.args = ['true']; }), id]);
      if (lsm.split(',').includes(name)) {
        // Enabled: the profile must exist; either way the runtime must not ignore it silently.
        expect(r.status === 0 || /process\./.test(r.stderr)).toBe(true);
      } else {
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`process\\.${field}: .*not enabled`));
      }
    }
  });
});

function makeBundleRootfs(): string {
  return fixtureRootfs();
}

function chownTree(dir: string, uid: number, gid: number): void {
  fs.lchownSync(dir, uid, gid);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, uid, gid);
    else fs.lchownSync(p, uid, gid);
  }
}

describe('berth-run matches crun too', () => {
  const crun = new RuntimeCli('crun');
  afterEach(() => crun.cleanup());

  test.each([
    ['capabilities and no_new_privs', statusFields.replace('|Seccomp|Seccomp_filters', '')],
    ['ids, cwd and environment', 'id; pwd; env | sort'],
    ['hostname', 'hostname'],
    ['rlimits', 'ulimit -a'],
    ['masked and read-only paths', 'cat /proc/kcore >/dev/null 2>&1 || echo masked; echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || echo ro-sys; touch /etc/x 2>/dev/null || echo ro-root'],
    ['exit status', 'exit 17'],
  ])('%s', (_name, script) => {
    const bundle = makeBundle((s) => {
      s.process!.args = ['sh', '-c', script];
      s.process!.env = ['PATH=/bin', 'HOME=/root'];
      s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 256, hard: 512 }];
    });
    const ours = berth.run(['run', '--bundle', bundle, uniqueId('c')]);
    const theirs = crun.run(['run', '--bundle', bundle, uniqueId('c')]);
    expect({ status: ours.status, stdout: ours.stdout }).toEqual({ status: theirs.status, stdout: theirs.stdout });
  });
});
