/**
 * Unit tests of config.json validation (src/oci/spec/validate.ts) and mount option parsing
 * (src/oci/plan/mount-options.ts). Pure functions: no root, no kernel features.
 */
import { BerthError } from '../../src/common/errors';
import { defaultSpec } from '../../src/oci/spec/default';
import { OCI_VERSION, parseConfigJson, validateConfig } from '../../src/oci/spec/validate';
import { MS, parseMountOptions } from '../../src/oci/plan/mount-options';

type Raw = Record<string, any>;

/** runc's default config as plain JSON, changed by `mutate`. */
function config(mutate: (c: Raw) => void = () => undefined, ociVersion = '1.0.2'): Raw {
  const c = JSON.parse(JSON.stringify(defaultSpec({ ociVersion }))) as Raw;
  c.root = { path: 'rootfs', readonly: true };
  mutate(c);
  return c;
}

/** The error validateConfig throws for `raw`; fails the test if it accepts it. */
function rejection(raw: unknown): BerthError {
  try {
    validateConfig(raw);
  } catch (err) {
    if (!(err instanceof BerthError)) throw new Error(`expected a BerthError, got ${String(err)}`);
    return err;
  }
  throw new Error(`accepted an invalid config: ${JSON.stringify(raw).slice(0, 200)}`);
}

describe('valid configs of every supported spec version', () => {
  const versions: [string, (c: Raw) => void][] = [
    ['1.0.0', () => undefined],
    ['1.0.2', (c) => { c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }; }],
    // 1.1.0: rlimits order-free, seccomp flags, defaultErrnoRet, mount idmapping fields exist (we reject those), time ns.
    ['1.1.0', (c) => {
      c.linux.seccomp = { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, flags: ['SECCOMP_FILTER_FLAG_LOG'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
      c.linux.namespaces.push({ type: 'time' });
      c.linux.timeOffsets = { monotonic: { secs: 10, nanosecs: 5 } };
    }],
    // 1.2.0: process.ioPriority, domainname.
    ['1.2.0', (c) => { c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 4 }; c.domainname = 'example.org'; }],
    // 1.3.0: linux.intelRdt.enableMonitoring, netDevices … none of which this config uses; plain plus annotations.
    ['1.3.0', (c) => { c.annotations = { 'org.example/a': 'b' }; c.linux.personality = { domain: 'LINUX' }; }],
    ['1.0.2-dev', () => undefined],
    ['1.4.7+build.1', () => undefined],
  ];
  test.each(versions)('%s is accepted', (version, extra) => {
    const raw = config(extra, version);
    const spec = validateConfig(raw);
    expect(spec.ociVersion).toBe(version);
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    expect(spec.process?.args).toEqual(['sh']);
    expect(spec.mounts).toHaveLength(7);
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(expect.arrayContaining(['pid', 'mount', 'uts']));
  });

  test('the newest implemented version is 1.3.0', () => {
    expect(OCI_VERSION).toBe('1.3.0');
  });

  test('unknown properties are ignored, at every level, and do not reach the Spec', () => {
    const raw = config((c) => {
      c.someFutureField = { x: 1 };
      c.process.futureProcessField = true;
      c.root.futureRootField = 'x';
      c.mounts[0].futureMountField = 7;
      c.linux.futureLinuxField = [1, 2];
      c.linux.namespaces[0].futureNsField = 'y';
      c.linux.resources.futureResource = { a: 1 };
    });
    const spec = validateConfig(raw) as unknown as Raw;
    expect(spec.someFutureField).toBeUndefined();
    expect(spec.process.futureProcessField).toBeUndefined();
    expect(spec.root.futureRootField).toBeUndefined();
    expect(spec.mounts[0].futureMountField).toBeUndefined();
    expect(spec.linux.futureLinuxField).toBeUndefined();
    expect(spec.linux.namespaces[0]).toEqual({ type: 'pid' });
  });

  test('parseConfigJson parses and validates; malformed JSON names the file', () => {
    expect(parseConfigJson(JSON.stringify(config())).ociVersion).toBe('1.0.2');
    let err: unknown;
    try {
      parseConfigJson('{"ociVersion": "1.0.2",', '/b/config.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).kind).toBe('InvalidArgument');
    expect((err as BerthError).field).toBe('/b/config.json');
    expect((err as BerthError).message).toMatch(/^\/b\/config\.json: malformed JSON/);
    expect(() => parseConfigJson(JSON.stringify(config((c) => { c.ociVersion = '2.0.0'; })))).toThrow(/ociVersion: unsupported major version 2/);
  });

  test('without process, only a create needs one', () => {
    const raw = config((c) => { delete c.process; });
    expect(rejection(raw).field).toBe('process');
    expect(validateConfig(raw, { requireProcess: false }).process).toBeUndefined();
  });

  test('what runc accepts and the spec allows: no mount namespace, a joined UTS namespace with a hostname, pids without a limit', () => {
    expect(() => validateConfig(config((c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: Raw) => n.type !== 'mount');
      c.linux.maskedPaths = [];
      delete c.linux.readonlyPaths;
    }))).not.toThrow();
    expect(validateConfig(config((c) => { c.hostname = 'h'; c.linux.namespaces.find((n: Raw) => n.type === 'uts').path = '/proc/1/ns/uts'; })).hostname).toBe('h');
    expect(validateConfig(config((c) => { c.linux.resources = { pids: {} }; })).linux?.resources?.pids).toEqual({ limit: 0 });
  });

  test('from ociVersion 1.1.0 on, an unknown capability and a relative mount destination are warnings, as runc has them', () => {
    const said: string[] = [];
    const spec = validateConfig(config((c) => {
      c.process.capabilities.bounding = ['CAP_KILL', 'CAP_FUTURE'];
      c.mounts[3].destination = 'dev/shm';
    }, '1.1.0'), { requireProcess: true, warn: (field, message) => said.push(`${field}: ${message}`) });
    expect(spec.process?.capabilities?.bounding).toEqual(['CAP_KILL']);
    expect(spec.mounts?.[3].destination).toBe('/dev/shm');
    expect(said).toEqual([
      'process.capabilities.bounding[1]: unknown capability "CAP_FUTURE"; ignored, with any other unknown ones',
      'mounts[3].destination: must be an absolute path, got "dev/shm"; taken as "/dev/shm"',
    ]);
    // 1.0.x: the same config is an error that says why.
    expect(rejection(config((c) => { c.process.capabilities.bounding = ['CAP_FUTURE']; })).message).toMatch(/an error for ociVersion 1\.0\.2/);
  });

  test('network and rdma limits reach the Spec (they were once dropped)', () => {
    const spec = validateConfig(config((c) => { c.linux.resources = { network: { classID: 7, priorities: [{ name: 'eth0', priority: 2 }] }, rdma: { mlx5_0: { hcaHandles: 3 } } }; }));
    expect(spec.linux?.resources?.network).toEqual({ classID: 7, priorities: [{ name: 'eth0', priority: 2 }] });
    expect(spec.linux?.resources?.rdma).toEqual({ mlx5_0: { hcaHandles: 3, hcaObjects: undefined } });
  });
});

describe('invalid configs name the exact field', () => {
  const cases: [string, (c: Raw) => void, string, RegExp?][] = [
    ['missing ociVersion', (c) => { delete c.ociVersion; }, 'ociVersion', /must be a string/],
    ['ociVersion not semver', (c) => { c.ociVersion = '1.0'; }, 'ociVersion', /not a semantic version/],
    ['ociVersion major 2', (c) => { c.ociVersion = '2.0.0'; }, 'ociVersion', /unsupported major version 2/],
    ['ociVersion major 0', (c) => { c.ociVersion = '0.6.0'; }, 'ociVersion', /unsupported major version 0/],
    ['missing root', (c) => { delete c.root; }, 'root', /must be an object/],
    ['missing root.path', (c) => { delete c.root.path; }, 'root.path', /must be a string/],
    ['empty root.path', (c) => { c.root.path = ''; }, 'root.path', /must not be empty/],
    ['root.readonly not boolean', (c) => { c.root.readonly = 'yes'; }, 'root.readonly', /boolean/],
    ['hostname not a string', (c) => { c.hostname = 5; }, 'hostname', /must be a string/],
    ['domainname not a string', (c) => { c.domainname = []; }, 'domainname', /must be a string/],
    ['empty process.args', (c) => { c.process.args = []; }, 'process.args'],
    ['process.args not strings', (c) => { c.process.args = ['sh', 3]; }, 'process.args[1]', /must be a string/],
    ['relative process.cwd', (c) => { c.process.cwd = 'tmp'; }, 'process.cwd', /absolute/],
    ['process.env without =', (c) => { c.process.env = ['A=1', 'B']; }, 'process.env[1]', /KEY=VALUE/],
    ['negative uid', (c) => { c.process.user.uid = -1; }, 'process.user.uid'],
    ['fractional gid', (c) => { c.process.user.gid = 1.5; }, 'process.user.gid', /integer/],
    ['additionalGids entry', (c) => { c.process.user.additionalGids = [1, 'x']; }, 'process.user.additionalGids[1]'],
    ['unknown capability', (c) => { c.process.capabilities.bounding = ['CAP_NOPE']; }, 'process.capabilities.bounding[0]', /unknown capability "CAP_NOPE"/],
    ['unknown capability in ambient[2]', (c) => { c.process.capabilities.ambient = ['CAP_KILL', 'CAP_CHOWN', 'kill']; }, 'process.capabilities.ambient[2]', /unknown capability "kill"/],
    ['unknown rlimit', (c) => { c.process.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }]; }, 'process.rlimits[0].type', /unknown rlimit "RLIMIT_BOGUS"/],
    ['duplicate rlimit', (c) => { c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 }]; }, 'process.rlimits[1].type', /duplicate/],
    ['soft > hard rlimit', (c) => { c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }]; }, 'process.rlimits[0].soft', /exceeds hard limit 1024/],
    ['negative rlimit', (c) => { c.process.rlimits = [{ type: 'RLIMIT_CORE', soft: -1, hard: 0 }]; }, 'process.rlimits[0].soft'],
    ['oomScoreAdj out of range', (c) => { c.process.oomScoreAdj = 1001; }, 'process.oomScoreAdj', /between -1000 and 1000/],
    ['bad ioPriority class', (c) => { c.process.ioPriority = { class: 'IOPRIO_CLASS_NONE' }; }, 'process.ioPriority.class', /unknown value/],
    ['ioPriority priority 8', (c) => { c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 8 }; }, 'process.ioPriority.priority'],
    ['mounts not an array', (c) => { c.mounts = {}; }, 'mounts', /must be an array/],
    ['relative mount destination', (c) => { c.mounts[3].destination = 'dev/shm'; }, 'mounts[3].destination', /absolute path/],
    ['empty mount destination', (c) => { c.mounts[1].destination = ''; }, 'mounts[1].destination', /must not be empty/],
    ['mount options not strings', (c) => { c.mounts[2].options = ['ro', 1]; }, 'mounts[2].options[1]', /must be a string/],
    ['idmapped mount', (c) => { c.mounts[0].uidMappings = []; }, 'mounts[0].uidMappings', /not supported/],
    ['unknown namespace type', (c) => { c.linux.namespaces[1].type = 'bogus'; }, 'linux.namespaces[1].type', /unknown value "bogus"/],
    ['duplicate namespace', (c) => { c.linux.namespaces.push({ type: 'pid' }); }, 'linux.namespaces[6].type', /duplicate namespace "pid"/],
    ['relative namespace path', (c) => { c.linux.namespaces[1].path = 'proc/1/ns/net'; }, 'linux.namespaces[1].path', /absolute path/],
    ['masked paths without a mount namespace', (c) => { c.linux.namespaces = c.linux.namespaces.filter((n: Raw) => n.type !== 'mount'); }, 'linux.maskedPaths', /need a mount namespace/],
    ['read-only paths without a mount namespace', (c) => { c.linux.maskedPaths = []; c.linux.namespaces = c.linux.namespaces.filter((n: Raw) => n.type !== 'mount'); }, 'linux.readonlyPaths', /need a mount namespace/],
    ['hostname without uts namespace', (c) => { c.linux.namespaces = c.linux.namespaces.filter((n: Raw) => n.type !== 'uts'); }, 'hostname', /UTS namespace/],
    ['domainname without uts namespace', (c) => { c.hostname = ''; c.domainname = 'x'; c.linux.namespaces = c.linux.namespaces.filter((n: Raw) => n.type !== 'uts'); }, 'domainname'],
    ['uid mappings without user namespace', (c) => { c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }]; }, 'linux.uidMappings', /user namespace/],
    ['gid mappings without user namespace', (c) => { c.linux.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }]; }, 'linux.gidMappings', /user namespace/],
    ['user namespace without mappings', (c) => { c.linux.namespaces.push({ type: 'user' }); }, 'linux.uidMappings', /needs uidMappings and gidMappings/],
    ['id mapping of size 0', (c) => { c.linux.namespaces.push({ type: 'user' }); c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 0 }]; c.linux.gidMappings = c.linux.uidMappings; }, 'linux.uidMappings[0].size'],
    ['bad device type', (c) => { c.linux.devices = [{ type: 'x', path: '/dev/foo', major: 1, minor: 3 }]; }, 'linux.devices[0].type', /unknown value "x"/],
    ['relative device path', (c) => { c.linux.devices = [{ type: 'c', path: 'dev/foo', major: 1, minor: 3 }]; }, 'linux.devices[0].path', /absolute/],
    ['char device without major', (c) => { c.linux.devices = [{ type: 'p', path: '/dev/fifo' }, { type: 'c', path: '/dev/foo', minor: 3 }]; }, 'linux.devices[1].major'],
    ['device fileMode too big', (c) => { c.linux.devices = [{ type: 'c', path: '/dev/foo', major: 1, minor: 3, fileMode: 0o10000 }]; }, 'linux.devices[0].fileMode'],
    ['cgroupsPath not a string', (c) => { c.linux.cgroupsPath = 3; }, 'linux.cgroupsPath', /must be a string/],
    ['bad seccomp action', (c) => { c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_EXPLODE' }] }; }, 'linux.seccomp.syscalls[0].action', /unknown action "SCMP_ACT_EXPLODE"/],
    ['bad seccomp default action', (c) => { c.linux.seccomp = { defaultAction: 'ALLOW' }; }, 'linux.seccomp.defaultAction', /unknown action/],
    ['bad seccomp architecture', (c) => { c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_Z80'] }; }, 'linux.seccomp.architectures[1]'],
    ['sysctl not namespaced', (c) => { c.linux.sysctl = { 'kernel.foo': '1' }; }, 'linux.sysctl["kernel.foo"]', /not namespaced/],
    ['net sysctl without network namespace', (c) => { c.linux.namespaces = c.linux.namespaces.filter((n: Raw) => n.type !== 'network'); c.linux.sysctl = { 'net.ipv4.ip_forward': '1' }; }, 'linux.sysctl["net.ipv4.ip_forward"]', /network namespace/],
    ['ipc sysctl without ipc namespace', (c) => { c.linux.namespaces = c.linux.namespaces.filter((n: Raw) => n.type !== 'ipc'); c.linux.sysctl = { 'kernel.shmmax': '1' }; }, 'linux.sysctl["kernel.shmmax"]', /ipc namespace/],
    ['sysctl name with a path', (c) => { c.linux.sysctl = { 'net/../../kernel/x': '1' }; }, 'linux.sysctl["net/../../kernel/x"]', /not a valid sysctl name/],
    ['sysctl name with ..', (c) => { c.linux.sysctl = { 'net...x': '1' }; }, 'linux.sysctl["net...x"]', /not a valid sysctl name/],
    ['sysctl value not a string', (c) => { c.linux.sysctl = { 'net.ipv4.ip_forward': 1 }; }, 'linux.sysctl["net.ipv4.ip_forward"]', /must be a string/],
    ['bad rootfsPropagation', (c) => { c.linux.rootfsPropagation = 'rwhatever'; }, 'linux.rootfsPropagation', /unknown value/],
    ['relative masked path', (c) => { c.linux.maskedPaths = ['/proc/kcore', 'proc/keys']; }, 'linux.maskedPaths[1]', /absolute/],
    ['relative readonly path', (c) => { c.linux.readonlyPaths = ['proc/sys']; }, 'linux.readonlyPaths[0]', /absolute/],
    ['timeOffsets for realtime', (c) => { c.linux.namespaces.push({ type: 'time' }); c.linux.timeOffsets = { realtime: { secs: 1 } }; }, 'linux.timeOffsets.realtime'],
    ['timeOffsets without a time namespace', (c) => { c.linux.timeOffsets = { monotonic: { secs: 1 } }; }, 'linux.timeOffsets', /time namespace/],
    ['hook with relative path', (c) => { c.hooks = { createContainer: [{ path: '/bin/true' }, { path: 'true' }] }; }, 'hooks.createContainer[1].path', /absolute/],
    ['hook timeout 0', (c) => { c.hooks = { poststart: [{ path: '/bin/true', timeout: 0 }] }; }, 'hooks.poststart[0].timeout'],
    ['annotation value not a string', (c) => { c.annotations = { a: 'b', c: 1 }; }, 'annotations["c"]', /must be a string/],
    ['memory swappiness above 100', (c) => { c.linux.resources.memory = { swappiness: 101 }; }, 'linux.resources.memory.swappiness'],
    ['device cgroup rule access', (c) => { c.linux.resources.devices = [{ allow: true, access: 'rwx' }]; }, 'linux.resources.devices[0].access', /r, w and m/],
    ['device cgroup rule type', (c) => { c.linux.resources.devices = [{ allow: true, type: 'p' }]; }, 'linux.resources.devices[0].type'],
    ['pids limit not a number', (c) => { c.linux.resources.pids = { limit: '5' }; }, 'linux.resources.pids.limit', /integer/],
    ['pids limit beyond int64', (c) => { c.linux.resources.pids = { limit: 1e19 }; }, 'linux.resources.pids.limit', /int64/],
    ['personality domain', (c) => { c.linux.personality = { domain: 'LINUX64' }; }, 'linux.personality.domain'],
    ['intelRdt', (c) => { c.linux.intelRdt = { closID: 'x' }; }, 'linux.intelRdt', /not supported/],
  ];

  test.each(cases.map(([name, mutate, field, message]) => ({ name, mutate, field, message: message ?? null })))('$name → $field', ({ mutate, field, message }) => {
    const err = rejection(config(mutate));
    expect(err.kind).toBe('InvalidArgument');
    expect(err.field).toBe(field);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
    if (message) expect(err.message).toMatch(message);
  });

  test.each([[[]], [null], ['{}'], [42]])('a config that is not an object (%j) → config', (raw) => {
    const err = rejection(raw);
    expect(err.kind).toBe('InvalidArgument');
    expect(err.field).toBe('config');
    expect(err.message).toMatch(/^config: must be an object/);
  });

  test('each base config in the table is itself valid (so every rejection comes from its mutation)', () => {
    expect(() => validateConfig(config())).not.toThrow();
  });
});

describe('mount options', () => {
  const parse = (opts: string[]) => parseMountOptions(opts, 'mounts[0].options');

  test('bind and rbind', () => {
    expect(parse(['bind'])).toMatchObject({ flags: MS.BIND, bind: true, propagation: 0, attr: 0n, data: '' });
    expect(parse(['rbind'])).toMatchObject({ flags: MS.BIND | MS.REC, bind: true });
    expect(parse(['nosuid'])).toMatchObject({ flags: MS.NOSUID, bind: false });
  });

  test('ro/rw and other flag pairs: the last one wins', () => {
    expect(parse(['ro']).flags).toBe(MS.RDONLY);
    expect(parse(['ro', 'rw']).flags).toBe(0);
    expect(parse(['rw', 'ro']).flags).toBe(MS.RDONLY);
    expect(parse(['nosuid', 'nodev', 'noexec', 'suid']).flags).toBe(MS.NODEV | MS.NOEXEC);
    expect(parse(['rbind', 'ro', 'nosuid', 'relatime']).flags).toBe(MS.BIND | MS.REC | MS.RDONLY | MS.NOSUID | MS.RELATIME);
    expect(parse(['defaults']).flags).toBe(0);
    expect(parse(['remount', 'ro']).flags).toBe(MS.REMOUNT | MS.RDONLY);
  });

  test('propagation', () => {
    expect(parse(['rprivate']).propagation).toBe(MS.PRIVATE | MS.REC);
    expect(parse(['private']).propagation).toBe(MS.PRIVATE);
    expect(parse(['shared']).propagation).toBe(MS.SHARED);
    expect(parse(['rslave']).propagation).toBe(MS.SLAVE | MS.REC);
    expect(parse(['unbindable']).propagation).toBe(MS.UNBINDABLE);
    expect(parse(['runbindable']).propagation).toBe(MS.UNBINDABLE | MS.REC);
    // Propagation is not a mount(2) flag of the mount itself.
    expect(parse(['rbind', 'rslave']).flags).toBe(MS.BIND | MS.REC);
  });

  test('recursive attributes: set in the low 32 bits, clear in the high 32 bits', () => {
    const RDONLY = 0x1n, NOSUID = 0x2n, NODEV = 0x4n, NOEXEC = 0x8n, NOATIME = 0x10n;
    expect(parse(['rro']).attr).toBe(RDONLY);
    expect(parse(['rrw']).attr).toBe(RDONLY << 32n);
    expect(parse(['rro', 'rnosuid', 'rnodev', 'rnoexec']).attr).toBe(RDONLY | NOSUID | NODEV | NOEXEC);
    expect(parse(['rro', 'rrw']).attr).toBe(RDONLY << 32n);
    expect(parse(['rrw', 'rro']).attr).toBe(RDONLY);
    expect(parse(['rnoatime', 'rexec']).attr).toBe(NOATIME | (NOEXEC << 32n));
    // Recursive attributes are not mount(2) flags.
    expect(parse(['rro']).flags).toBe(0);
  });

  test('everything else is filesystem data, in order', () => {
    const p = parse(['nosuid', 'mode=755', 'size=65536k', 'strictatime', 'uid=5']);
    expect(p.data).toBe('mode=755,size=65536k,uid=5');
    expect(p.flags).toBe(MS.NOSUID | MS.STRICTATIME);
    expect(parse(['newinstance', 'ptmxmode=0666']).data).toBe('newinstance,ptmxmode=0666');
  });

  test('unsupported options name the option', () => {
    for (const [opts, i] of [[['tmpcopyup'], 0], [['ro', 'idmap'], 1], [['rbind', 'nosuid', 'ridmap'], 2]] as [string[], number][]) {
      let err: unknown;
      try {
        parse(opts);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).kind).toBe('InvalidArgument');
      expect((err as BerthError).field).toBe(`mounts[0].options[${i}]`);
      expect((err as BerthError).message).toMatch(new RegExp(`"${opts[i]}" is not supported`));
    }
  });
});
