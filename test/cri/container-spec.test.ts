/**
 * CreateContainer → OCI spec (src/cri/container) and the sandbox's file texts (src/cri/sandbox/files.ts). Unit
 * tests: no root, no mounts; the rootfs is a temp directory with its own /etc/passwd and /etc/group, and symlink
 * traps that would lead a naive lookup to files outside it.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { BerthError } from '../../src/common/errors';
import { stringifyJson } from '../../src/common/json';
import type { ImageRunConfig } from '../../src/image/api';
import { toDigest } from '../../src/image/digest';
import type { Spec } from '../../src/oci';
import { compileSeccomp } from '../../src/oci/seccomp/compile';
import { parseSeccomp } from '../../src/oci/seccomp/validate';
import { validateConfig } from '../../src/oci/spec/validate';
import type { DeviceInfo } from '../../src/cri/container/devices';
import { statHostDevice } from '../../src/cri/container/devices';
import { resolveInRoot } from '../../src/cri/container/in-root';
import { defaultSeccompProfile } from '../../src/cri/container/seccomp-default';
import { DEFAULT_CAPS, grantableCaps } from '../../src/cri/container/security';
import { buildContainerSpec, type ContainerSpecInput } from '../../src/cri/container/spec';
import { resolveUser, type ResolvedUser } from '../../src/cri/container/user';
import { hostnameFile, hostsFile, resolvConf } from '../../src/cri/sandbox/files';
import type { ContainerConfig, LinuxContainerResources, LinuxContainerSecurityContext, Mount, PodSandboxConfig } from '../../src/cri/types';
import { cleanupTempDirs, tempDir } from '../image/helpers';

afterAll(() => cleanupTempDirs());

const ID = 'a'.repeat(64);
const SANDBOX = 'b'.repeat(64);

const image = (over: Partial<ImageRunConfig> = {}): ImageRunConfig => ({
  id: toDigest(`sha256:${'c'.repeat(64)}`), user: '', env: ['PATH=/opt/bin:/bin', 'LANG=C'], entrypoint: ['/entry'], cmd: ['serve', '--port=80'],
  workingDir: '/srv', stopSignal: '', volumes: [], ...over,
});

function sc(over: Partial<LinuxContainerSecurityContext> = {}): LinuxContainerSecurityContext {
  return {
    capabilities: null, privileged: false, namespaceOptions: null, selinuxOptions: null, runAsUser: null, runAsUsername: '',
    readonlyRootfs: false, supplementalGroups: [], apparmorProfile: '', seccompProfilePath: '', noNewPrivs: false, runAsGroup: null,
    maskedPaths: [], readonlyPaths: [], seccomp: null, apparmor: null, supplementalGroupsPolicy: 'Merge', ...over,
  };
}

function resources(over: Partial<LinuxContainerResources> = {}): LinuxContainerResources {
  return {
    cpuPeriod: '0', cpuQuota: '0', cpuShares: '0', memoryLimitInBytes: '0', oomScoreAdj: '0', cpusetCpus: '', cpusetMems: '',
    hugepageLimits: [], unified: {}, memorySwapLimitInBytes: '0', ...over,
  };
}

function config(over: Partial<ContainerConfig> = {}, security: LinuxContainerSecurityContext | null = null, res: LinuxContainerResources | null = null): ContainerConfig {
  return {
    metadata: { name: 'web', attempt: 0 },
    image: { image: 'sha256:cc', annotations: {}, userSpecifiedImage: 'nginx:1.25', runtimeHandler: '', imageRef: '' },
    command: [], args: [], workingDir: '', envs: [], mounts: [], devices: [], labels: {}, annotations: {}, logPath: '',
    stdin: false, stdinOnce: false, tty: false, linux: { resources: res, securityContext: security }, windows: null, CDIDevices: [], stopSignal: 'SIGNAL_RUNTIME_DEFAULT',
    ...over,
  };
}

function sandboxConfig(over: Partial<PodSandboxConfig> = {}, privileged = false): PodSandboxConfig {
  return {
    metadata: { name: 'pod', uid: 'uid-1', namespace: 'default', attempt: 0 }, hostname: 'pod-host', logDirectory: '', dnsConfig: null,
    portMappings: [], labels: {}, annotations: {}, windows: null,
    linux: {
      cgroupParent: '', sysctls: {}, overhead: null, resources: null,
      securityContext: {
        namespaceOptions: null, selinuxOptions: null, runAsUser: null, readonlyRootfs: false, supplementalGroups: [], privileged,
        seccompProfilePath: '', runAsGroup: null, seccomp: null, apparmor: null, supplementalGroupsPolicy: 'Merge',
      },
    },
    ...over,
  };
}

function criMount(over: Partial<Mount>): Mount {
  return {
    containerPath: '/data', hostPath: '/var/lib/data', readonly: false, selinuxRelabel: false, propagation: 'PROPAGATION_PRIVATE',
    uidMappings: [], gidMappings: [], recursiveReadOnly: false, image: null, imageSubPath: '', mountOptions: [], ...over,
  };
}

const ROOT_USER: ResolvedUser = { uid: 0, gid: 0, additionalGids: [] };
const noDevice = (): DeviceInfo | undefined => undefined;

function input(over: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  return {
    id: ID, sandboxId: SANDBOX, config: config(), sandboxConfig: sandboxConfig(), image: image(), rootfs: '/run/berth/c/rootfs',
    user: ROOT_USER, namespaces: { network: '/run/netns/pod', ipc: '/proc/10/ns/ipc', uts: '/proc/10/ns/uts', pid: '/proc/10/ns/pid' },
    hostNetwork: false, hostIpc: false, hostPid: false,
    sandboxFiles: { hostname: '/sb/hostname', hosts: '/sb/hosts', resolvConf: '/sb/resolv.conf', shm: '/sb/shm' },
    cgroupsPath: `/kubepods/besteffort/poduid-1/${ID}`, minOomScoreAdj: -999, statDevice: noDevice, nodeHostname: 'node-1', arch: 'x64',
    ...over,
  };
}

const build = (over: Partial<ContainerSpecInput> = {}) => buildContainerSpec(input(over));
const specOf = (over: Partial<ContainerSpecInput> = {}): Spec => build(over).spec;

/** The BerthError `fn` throws (anything else fails the test). */
function errorOf(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected a BerthError, nothing was thrown');
}

/** berth-run's own validator accepts the spec, at the 1.0 strictness its ociVersion claims. */
function expectValidForBerthRun(spec: Spec): void {
  const warnings: string[] = [];
  validateConfig(JSON.parse(stringifyJson(spec)), { requireProcess: true, warn: (f, m) => warnings.push(`${f}: ${m}`) });
  expect(warnings).toEqual([]);
}

describe('process', () => {
  test.each([
    ['command and args', { command: ['/bin/sh', '-c'], args: ['echo hi'] }, ['/bin/sh', '-c', 'echo hi']],
    ['command only: the image Cmd is dropped', { command: ['/bin/true'] }, ['/bin/true']],
    ['args only: image Entrypoint + args', { args: ['--debug'] }, ['/entry', '--debug']],
    ['neither: Entrypoint + Cmd', {}, ['/entry', 'serve', '--port=80']],
  ])('%s', (_name, over, want) => {
    expect(specOf({ config: config(over) }).process?.args).toEqual(want);
  });

  test('ENTRYPOINT [""] clears the entrypoint; no program at all names config.command', () => {
    expect(specOf({ image: image({ entrypoint: [''] }) }).process?.args).toEqual(['serve', '--port=80']);
    const err = errorOf(() => build({ image: image({ entrypoint: [], cmd: [] }) }));
    expect(err.kind).toBe('InvalidArgument');
    expect(err.field).toBe('config.command');
  });

  test('env: PATH and HOSTNAME defaults, image values, CRI values winning in place', () => {
    const env = specOf({ config: config({ envs: [{ key: 'LANG', value: Buffer.from('de_DE') }, { key: 'EXTRA', value: Buffer.from('a=b') }] }) }).process?.env;
    expect(env).toEqual(['PATH=/opt/bin:/bin', 'HOSTNAME=pod-host', 'LANG=de_DE', 'EXTRA=a=b']);
    const plain = specOf({ image: image({ env: [] }), sandboxConfig: sandboxConfig({ hostname: '' }) }).process?.env;
    expect(plain).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=node-1']);
    expect(errorOf(() => build({ config: config({ envs: [{ key: 'A', value: Buffer.from('1') }, { key: 'B=C', value: Buffer.from('') }] }) })).field).toBe('config.envs[1].key');
  });

  test('working dir: CRI, else image, else /; relative CRI dirs are refused', () => {
    expect(specOf({ config: config({ workingDir: '/work' }) }).process?.cwd).toBe('/work');
    expect(specOf().process?.cwd).toBe('/srv');
    expect(specOf({ image: image({ workingDir: '' }) }).process?.cwd).toBe('/');
    expect(errorOf(() => build({ config: config({ workingDir: 'rel' }) })).field).toBe('config.working_dir');
  });

  test('terminal, user, no_new_privs, readonly rootfs, ociVersion, cgroups path, annotations', () => {
    const spec = specOf({
      config: config({ tty: true, annotations: { 'x/y': '1', 'io.kubernetes.cri.sandbox-id': 'spoofed' } }, sc({ noNewPrivs: true, readonlyRootfs: true })),
      user: { uid: 1000, gid: 100, additionalGids: [4, 27] },
    });
    expect(spec.ociVersion).toBe('1.0.2');
    expect(spec.process).toMatchObject({ terminal: true, user: { uid: 1000, gid: 100, additionalGids: [4, 27] }, noNewPrivileges: true });
    expect(spec.root).toEqual({ path: '/run/berth/c/rootfs', readonly: true });
    expect(spec.linux?.cgroupsPath).toBe(`/kubepods/besteffort/poduid-1/${ID}`);
    expect(spec.annotations).toEqual({
      'x/y': '1', 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': SANDBOX,
      'io.kubernetes.cri.sandbox-name': 'pod', 'io.kubernetes.cri.sandbox-namespace': 'default', 'io.kubernetes.cri.sandbox-uid': 'uid-1',
      'io.kubernetes.cri.container-name': 'web', 'io.kubernetes.cri.image-name': 'nginx:1.25',
    });
    expect(spec.process?.rlimits).toBeUndefined();
    expect(specOf().process?.noNewPrivileges).toBe(false);
  });

  test('a container without metadata is refused', () => {
    expect(errorOf(() => build({ config: config({ metadata: null }) })).field).toBe('config.metadata.name');
  });
});

describe('mounts', () => {
  const dests = (s: Spec) => (s.mounts ?? []).map((m) => m.destination);

  test('defaults, then sandbox files as binds; no /run; the whole spec passes berth-run validation', () => {
    const spec = specOf();
    expect(dests(spec)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev/shm']);
    expect(spec.mounts?.find((m) => m.destination === '/sys')?.options).toContain('ro');
    expect(spec.mounts?.find((m) => m.destination === '/sys/fs/cgroup')?.options).toContain('ro');
    expect(spec.mounts?.find((m) => m.destination === '/etc/hosts')).toEqual({ destination: '/etc/hosts', type: 'bind', source: '/sb/hosts', options: ['rbind', 'rprivate', 'rw'] });
    expect(spec.mounts?.find((m) => m.destination === '/dev/shm')?.source).toBe('/sb/shm');
    expectValidForBerthRun(spec);
  });

  test('without a sandbox shm the default /dev/shm tmpfs stays; readonly rootfs makes the sandbox files ro', () => {
    const spec = specOf({ sandboxFiles: { hosts: '/sb/hosts' }, config: config({}, sc({ readonlyRootfs: true })) });
    expect(spec.mounts?.find((m) => m.destination === '/dev/shm')).toMatchObject({ type: 'tmpfs', source: 'shm' });
    expect(spec.mounts?.find((m) => m.destination === '/etc/hosts')?.options).toEqual(['rbind', 'rprivate', 'ro']);
    expect(dests(spec)).not.toContain('/etc/resolv.conf');
  });

  test('propagation and read-only modes; rootfs propagation follows the strongest', () => {
    const mounts = [
      criMount({ containerPath: '/a/b/c', hostPath: '/h/c', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }),
      criMount({ containerPath: '/a', hostPath: '/h/a', readonly: true }),
      criMount({ containerPath: '/a/b', hostPath: '/h/b', propagation: 'PROPAGATION_BIDIRECTIONAL' }),
      criMount({ containerPath: '/r/', hostPath: '/h/r', readonly: true, recursiveReadOnly: true, selinuxRelabel: true }),
    ];
    const spec = specOf({ config: config({ mounts }) });
    const binds = (spec.mounts ?? []).filter((m) => m.source?.startsWith('/h/'));
    // Sorted by depth, so /a is mounted before what lies below it.
    expect(binds.map((m) => [m.destination, m.options])).toEqual([
      ['/a', ['rbind', 'rprivate', 'ro']],
      ['/r', ['rbind', 'rprivate', 'rro']],
      ['/a/b', ['rbind', 'rshared', 'rw']],
      ['/a/b/c', ['rbind', 'rslave', 'rw']],
    ]);
    expect(spec.linux?.rootfsPropagation).toBe('rshared');
    const slave = specOf({ config: config({ mounts: [mounts[0]] }) });
    expect(slave.linux?.rootfsPropagation).toBe('rslave');
    expect(specOf().linux?.rootfsPropagation).toBeUndefined();
    expectValidForBerthRun(spec);
  });

  test.each([
    [{ containerPath: 'data' }, 'config.mounts[0].container_path'],
    [{ containerPath: '/data/../etc' }, 'config.mounts[0].container_path'],
    [{ containerPath: '' }, 'config.mounts[0].container_path'],
    [{ hostPath: 'relative/dir' }, 'config.mounts[0].host_path'],
    [{ recursiveReadOnly: true }, 'config.mounts[0].recursive_read_only'],
    [{ recursiveReadOnly: true, readonly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' as const }, 'config.mounts[0].recursive_read_only'],
    [{ hostPath: '', image: { image: 'busybox', annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' } }, 'config.mounts[0].image'],
  ])('invalid mount %j names %s', (over, field) => {
    const err = errorOf(() => build({ config: config({ mounts: [criMount(over)] }) }));
    expect(err.kind).toBe('InvalidArgument');
    expect(err.field).toBe(field);
  });

  test('a CRI mount replaces the sandbox file and default mount at its path; a CRI /dev replaces the default ones below /dev', () => {
    const spec = specOf({ config: config({ mounts: [criMount({ containerPath: '/etc/hosts', hostPath: '/kubelet/hosts' }), criMount({ containerPath: '/dev', hostPath: '/dev' })] }) });
    expect(spec.mounts?.filter((m) => m.destination === '/etc/hosts')).toEqual([{ destination: '/etc/hosts', type: 'bind', source: '/kubelet/hosts', options: ['rbind', 'rprivate', 'rw'] }]);
    // The pod's own /dev/shm is still bound over the host's /dev, as containerd does.
    expect((spec.mounts ?? []).filter((m) => m.destination.startsWith('/dev')).map((m) => [m.destination, m.source])).toEqual([['/dev', '/dev'], ['/dev/shm', '/sb/shm']]);
  });

  test('idmapped CRI mounts carry their mappings', () => {
    const m = criMount({ uidMappings: [{ hostId: 100000, containerId: 0, length: 65536 }], gidMappings: [{ hostId: 200000, containerId: 0, length: 65536 }] });
    expect(specOf({ config: config({ mounts: [m] }) }).mounts?.find((x) => x.destination === '/data')).toMatchObject({
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }],
    });
  });
});

describe('devices', () => {
  const fuse: DeviceInfo = { type: 'c', major: 10, minor: 229, fileMode: 0o20666, uid: 0, gid: 0 };
  const stat = (p: string) => (p === '/dev/fuse' ? fuse : p === '/dev/console' ? { ...fuse, major: 5, minor: 1 } : undefined);

  test('a CRI device becomes a node plus an allow rule after deny-all', () => {
    const spec = specOf({ statDevice: stat, config: config({ devices: [{ hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rw' }] }) });
    expect(spec.linux?.devices).toEqual([{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 }]);
    expect(spec.linux?.resources?.devices).toEqual([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' }]);
    expectValidForBerthRun(spec);
  });

  test('errors name the device field', () => {
    const dev = (over: object) => config({ devices: [{ hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rwm', ...over }] });
    expect(errorOf(() => build({ statDevice: stat, config: dev({ permissions: 'rx' }) })).field).toBe('config.devices[0].permissions');
    expect(errorOf(() => build({ statDevice: stat, config: dev({ hostPath: '/etc/passwd' }) })).field).toBe('config.devices[0].host_path');
    expect(errorOf(() => build({ statDevice: stat, config: dev({ containerPath: 'fuse' }) })).field).toBe('config.devices[0].container_path');
    const throwing = () => {
      throw new Error('ENOENT');
    };
    expect(errorOf(() => build({ statDevice: throwing, config: dev({}) })).message).toContain('ENOENT');
  });

  test('tty with the host /dev bound in gets /dev/console', () => {
    const spec = specOf({ statDevice: stat, config: config({ tty: true, mounts: [criMount({ containerPath: '/dev', hostPath: '/dev' })] }) });
    expect(spec.linux?.devices?.map((d) => d.path)).toEqual(['/dev/console']);
  });

  test('statHostDevice reads the major and minor of a real node', () => {
    expect(statHostDevice('/dev/null')).toMatchObject({ type: 'c', major: 1, minor: 3, fileMode: 0o666 });
    expect(statHostDevice('/etc/passwd')).toBeUndefined();
  });
});

describe('capabilities and privileged', () => {
  const caps = (security: LinuxContainerSecurityContext, sandboxPrivileged = false) =>
    specOf({ config: config({}, security), sandboxConfig: sandboxConfig({}, sandboxPrivileged) }).process?.capabilities;

  test('containerd\'s default set in bounding, effective and permitted; nothing inheritable or ambient', () => {
    const c = caps(sc());
    expect(new Set(c?.bounding)).toEqual(new Set(DEFAULT_CAPS));
    expect(c?.effective).toEqual(c?.bounding);
    expect(c?.permitted).toEqual(c?.bounding);
    expect(c?.inheritable).toBeUndefined();
    expect(c?.ambient).toBeUndefined();
  });

  test('add and drop, with or without CAP_, any case', () => {
    const c = caps(sc({ capabilities: { addCapabilities: ['net_admin', 'CAP_SYS_TIME'], dropCapabilities: ['MKNOD', 'cap_net_raw'], addAmbientCapabilities: [] } }));
    expect(c?.bounding).toEqual(expect.arrayContaining(['CAP_NET_ADMIN', 'CAP_SYS_TIME']));
    expect(c?.bounding).not.toContain('CAP_MKNOD');
    expect(c?.bounding).not.toContain('CAP_NET_RAW');
  });

  test('ALL: add ALL then drop one; drop ALL then add one', () => {
    const all = caps(sc({ capabilities: { addCapabilities: ['ALL'], dropCapabilities: ['CHOWN'], addAmbientCapabilities: [] } }));
    // ALL is what berthd itself may grant: its bounding set (this machine lacks CAP_SYS_RESOURCE).
    expect(all?.bounding).toEqual(grantableCaps().filter((c) => c !== 'CAP_CHOWN'));
    expect(all?.bounding).not.toContain('CAP_CHOWN');
    const one = caps(sc({ capabilities: { addCapabilities: ['NET_BIND_SERVICE'], dropCapabilities: ['all'], addAmbientCapabilities: [] } }));
    expect(one?.bounding).toEqual(['CAP_NET_BIND_SERVICE']);
  });

  test('ambient capabilities join every set', () => {
    const c = caps(sc({ capabilities: { addCapabilities: [], dropCapabilities: ['ALL'], addAmbientCapabilities: ['NET_BIND_SERVICE'] } }));
    expect(c).toEqual({ bounding: ['CAP_NET_BIND_SERVICE'], effective: ['CAP_NET_BIND_SERVICE'], permitted: ['CAP_NET_BIND_SERVICE'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] });
  });

  test('unknown capabilities name their entry', () => {
    const err = errorOf(() => caps(sc({ capabilities: { addCapabilities: ['CHOWN', 'KILL', 'FLY'], dropCapabilities: [], addAmbientCapabilities: [] } })));
    expect(err.field).toBe('config.linux.security_context.capabilities.add_capabilities[2]');
    expect(errorOf(() => caps(sc({ capabilities: { addCapabilities: [], dropCapabilities: ['nope'], addAmbientCapabilities: [] } }))).field)
      .toBe('config.linux.security_context.capabilities.drop_capabilities[0]');
    expect(errorOf(() => caps(sc({ capabilities: { addCapabilities: [], dropCapabilities: [], addAmbientCapabilities: ['ALL'] } }))).field)
      .toBe('config.linux.security_context.capabilities.add_ambient_capabilities[0]');
  });

  test('privileged: every capability, no masked or read-only paths, all devices, writable sysfs and cgroupfs, no seccomp, no cgroup ns', () => {
    const security = sc({ privileged: true, capabilities: { addCapabilities: [], dropCapabilities: ['ALL'], addAmbientCapabilities: [] }, seccomp: { profileType: 'RuntimeDefault', localhostRef: '' } });
    const spec = specOf({ config: config({}, security), sandboxConfig: sandboxConfig({}, true) });
    expect(spec.process?.capabilities?.bounding).toEqual([...grantableCaps()]);
    expect(spec.linux?.maskedPaths).toEqual([]);
    expect(spec.linux?.readonlyPaths).toEqual([]);
    expect(spec.linux?.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(spec.mounts?.find((m) => m.destination === '/sys')?.options).toContain('rw');
    expect(spec.mounts?.find((m) => m.destination === '/sys/fs/cgroup')?.options).toContain('rw');
    expect(spec.linux?.seccomp).toBeUndefined();
    expect(spec.linux?.namespaces?.map((n) => n.type)).not.toContain('cgroup');
    expectValidForBerthRun(spec);
  });

  test('a privileged container needs a privileged sandbox', () => {
    expect(errorOf(() => caps(sc({ privileged: true }))).field).toBe('config.linux.security_context.privileged');
  });

  test('masked and read-only paths: containerd\'s defaults, replaced by non-empty CRI lists', () => {
    const def = specOf();
    expect(def.linux?.maskedPaths).toEqual(['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
      '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/sys/devices/virtual/powercap', '/proc/scsi']);
    expect(def.linux?.readonlyPaths).toEqual(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
    const own = specOf({ config: config({}, sc({ maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'] })) });
    expect(own.linux?.maskedPaths).toEqual(['/proc/kcore']);
    expect(own.linux?.readonlyPaths).toEqual(['/proc/sys']);
    expect(errorOf(() => build({ config: config({}, sc({ maskedPaths: ['/ok', 'proc/x'] })) })).field).toBe('config.linux.security_context.masked_paths[1]');
  });
});

describe('seccomp', () => {
  const seccompOf = (security: LinuxContainerSecurityContext, over: Partial<ContainerSpecInput> = {}) => specOf({ config: config({}, security), ...over }).linux?.seccomp;
  const RD = { profileType: 'RuntimeDefault' as const, localhostRef: '' };

  test.each(['x64', 'arm64'])('RuntimeDefault on %s: EPERM by default, and compiles with every name known to berth-run', (arch) => {
    const s = seccompOf(sc({ seccomp: RD }), { arch })!;
    expect(s).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1 });
    expect(s.architectures?.[0]).toBe(arch === 'x64' ? 'SCMP_ARCH_X86_64' : 'SCMP_ARCH_AARCH64');
    const { warnings, program } = compileSeccomp(parseSeccomp(JSON.parse(stringifyJson(s))), { nativeArch: arch });
    expect(warnings).toEqual([]);
    expect(program.length).toBeGreaterThan(0);
    expectValidForBerthRun(specOf({ config: config({}, sc({ seccomp: RD })), arch }));
  });

  test('RuntimeDefault follows the capabilities: mount, unshare and clone3 need CAP_SYS_ADMIN, chroot CAP_SYS_CHROOT', () => {
    const allowed = (caps: string[]) => defaultSeccompProfile('x64', caps).syscalls!.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names);
    const plain = allowed([...DEFAULT_CAPS]);
    expect(plain).toEqual(expect.arrayContaining(['read', 'openat', 'chroot', 'open', 'stat64', 'socket']));
    for (const n of ['mount', 'unshare', 'setns', 'clone', 'clone3', 'kexec_load', 'add_key', 'io_uring_setup', 'open_by_handle_at', 'reboot']) expect(plain).not.toContain(n);
    const admin = allowed([...DEFAULT_CAPS, 'CAP_SYS_ADMIN']);
    expect(admin).toEqual(expect.arrayContaining(['mount', 'unshare', 'setns', 'clone', 'clone3', 'umount']));
    expect(allowed(['CAP_KILL'])).not.toContain('chroot');
    const rules = defaultSeccompProfile('arm64', []).syscalls!;
    expect(rules.find((r) => r.names.includes('clone3'))).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    expect(rules.find((r) => r.names.includes('clone'))?.args).toEqual([{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
    expect(rules.flatMap((r) => r.names)).not.toContain('open'); // no legacy x86 names on aarch64
  });

  test('Unconfined and the deprecated path strings', () => {
    expect(seccompOf(sc({ seccomp: { profileType: 'Unconfined', localhostRef: '' } }))).toBeUndefined();
    expect(seccompOf(sc())).toBeUndefined(); // nothing asked: containerd's default is unconfined
    expect(seccompOf(sc({ seccompProfilePath: 'unconfined' }))).toBeUndefined();
    expect(seccompOf(sc({ seccompProfilePath: 'runtime/default' }))?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(seccompOf(sc({ seccompProfilePath: 'docker/default' }))?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(errorOf(() => seccompOf(sc({ seccompProfilePath: 'strict' }))).field).toBe('config.linux.security_context.seccomp_profile_path');
  });

  test('Localhost: absolute, relative to the profile root, moby format; unreadable or not JSON names the field', () => {
    const dir = tempDir('berth-seccomp-');
    const oci = { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] };
    fs.writeFileSync(path.join(dir, 'oci.json'), JSON.stringify(oci));
    fs.mkdirSync(path.join(dir, 'profiles'));
    fs.writeFileSync(path.join(dir, 'profiles', 'moby.json'), JSON.stringify({
      defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1,
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }, { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: [] }],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { name: 'write', action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
        { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['chroot'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_CHROOT'] } },
        { names: ['futuristic'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '99.0' } },
      ],
    }));
    fs.writeFileSync(path.join(dir, 'broken.json'), '{"defaultAction": ');

    expect(seccompOf(sc({ seccomp: { profileType: 'Localhost', localhostRef: path.join(dir, 'oci.json') } }))).toEqual(oci);
    expect(seccompOf(sc({ seccompProfilePath: `localhost/${path.join(dir, 'oci.json')}` }))).toEqual(oci);
    const moby = seccompOf(sc({ seccomp: { profileType: 'Localhost', localhostRef: 'profiles/moby.json' } }), { seccompProfileRoot: dir });
    expect(moby).toEqual({
      defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['write'], action: 'SCMP_ACT_ALLOW' }],
    });

    const field = 'config.linux.security_context.seccomp.localhost_ref';
    const lh = (ref: string, over: Partial<ContainerSpecInput> = {}) => errorOf(() => seccompOf(sc({ seccomp: { profileType: 'Localhost', localhostRef: ref } }), over));
    expect(lh(path.join(dir, 'missing.json')).field).toBe(field);
    expect(lh(path.join(dir, 'broken.json')).message).toContain('not JSON');
    expect(lh(path.join(dir, 'broken.json')).field).toBe(field);
    expect(lh('profiles/moby.json').field).toBe(field); // relative, and no root
    expect(lh('../oci.json', { seccompProfileRoot: path.join(dir, 'profiles') }).message).toContain('leaves the seccomp profile root');
    expect(errorOf(() => seccompOf(sc({ seccompProfilePath: 'localhost/' + path.join(dir, 'broken.json') }))).field).toBe('config.linux.security_context.seccomp_profile_path');
  });
});

describe('apparmor (this host has none)', () => {
  test('RuntimeDefault and unconfined are skipped silently; Localhost is an error naming the field', () => {
    const apparmor = (security: LinuxContainerSecurityContext, enabled = false) => build({ config: config({}, security), apparmorEnabled: enabled });
    for (const s of [sc({ apparmor: { profileType: 'RuntimeDefault', localhostRef: '' } }), sc({ apparmorProfile: 'runtime/default' }), sc({ apparmorProfile: 'unconfined' })]) {
      const { spec, warnings } = apparmor(s);
      expect(spec.process?.apparmorProfile).toBeUndefined();
      expect(warnings).toEqual([]);
    }
    expect(errorOf(() => apparmor(sc({ apparmor: { profileType: 'Localhost', localhostRef: 'my-profile' } }))).field).toBe('config.linux.security_context.apparmor');
    expect(errorOf(() => apparmor(sc({ apparmorProfile: 'localhost/my-profile' }))).field).toBe('config.linux.security_context.apparmor_profile');
    expect(errorOf(() => apparmor(sc({ apparmorProfile: 'bogus' }))).field).toBe('config.linux.security_context.apparmor_profile');
    // Where AppArmor exists, a Localhost profile is passed on by name.
    expect(apparmor(sc({ apparmor: { profileType: 'Localhost', localhostRef: 'localhost/my-profile' } }), true).spec.process?.apparmorProfile).toBe('my-profile');
  });
});

describe('resources and sysctls', () => {
  test('CRI resources map onto linux.resources; zero means unset', () => {
    const res = resources({
      cpuShares: '512', cpuQuota: '50000', cpuPeriod: '100000', cpusetCpus: '0-1', cpusetMems: '0', memoryLimitInBytes: '268435456',
      memorySwapLimitInBytes: '536870912', oomScoreAdj: '500', hugepageLimits: [{ pageSize: '2MB', limit: '4194304' }, { pageSize: '1GB', limit: '18446744073709551615' }],
      unified: { 'memory.high': '200000000' },
    });
    const spec = specOf({ config: config({}, null, res) });
    expect(spec.linux?.resources).toEqual({
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1', mems: '0' },
      memory: { limit: 268435456, swap: 536870912 },
      hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }, { pageSize: '1GB', limit: 18446744073709551615n }],
      unified: { 'memory.high': '200000000' },
      devices: [{ allow: false, access: 'rwm' }],
    });
    expect(spec.process?.oomScoreAdj).toBe(500);
    expect(specOf({ config: config({}, null, resources()) }).linux?.resources).toEqual({ devices: [{ allow: false, access: 'rwm' }] });
    expect(specOf().process?.oomScoreAdj).toBeUndefined();
  });

  test('oom_score_adj below what berthd may set is clamped, with a warning', () => {
    const { spec, warnings } = build({ config: config({}, null, resources({ oomScoreAdj: '-998' })), minOomScoreAdj: -500 });
    expect(spec.process?.oomScoreAdj).toBe(-500);
    expect(warnings).toEqual([expect.stringContaining('config.linux.resources.oom_score_adj: -998 raised to -500')]);
  });

  test.each([
    [{ oomScoreAdj: '1001' }, 'config.linux.resources.oom_score_adj'],
    [{ cpuShares: '-2' }, 'config.linux.resources.cpu_shares'],
    [{ memoryLimitInBytes: '-1' }, 'config.linux.resources.memory_limit_in_bytes'],
    [{ memoryLimitInBytes: '1000', memorySwapLimitInBytes: '10' }, 'config.linux.resources.memory_swap_limit_in_bytes'],
    [{ cpusetCpus: '0-a' }, 'config.linux.resources.cpuset_cpus'],
    [{ hugepageLimits: [{ pageSize: '2M', limit: '1' }] }, 'config.linux.resources.hugepage_limits[0].page_size'],
    [{ unified: { '../cpu.max': '1' } }, 'config.linux.resources.unified["../cpu.max"]'],
  ])('invalid %j names %s', (over, field) => {
    expect(errorOf(() => build({ config: config({}, null, resources(over)) })).field).toBe(field);
  });

  test('the pod\'s sysctls; network ones not for host-network pods', () => {
    const sb = sandboxConfig();
    sb.linux!.sysctls = { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' };
    expect(specOf({ sandboxConfig: sb }).linux?.sysctl).toEqual(sb.linux!.sysctls);
    const host = build({ sandboxConfig: sb, hostNetwork: true, sandboxFiles: {} });
    expect(host.spec.linux?.sysctl).toEqual({ 'kernel.shm_rmid_forced': '1' });
    expect(host.warnings).toEqual([expect.stringContaining('net.ipv4.ip_unprivileged_port_start')]);
    expectValidForBerthRun(host.spec);
  });
});

describe('namespaces', () => {
  const nsOf = (over: Partial<ContainerSpecInput>) => specOf(over).linux?.namespaces;
  const nsOpts = (pid: 'POD' | 'CONTAINER' | 'NODE' | 'TARGET', extra: object = {}) => sc({ namespaceOptions: { network: 'POD', pid, ipc: 'POD', targetId: '', usernsOptions: null, ...extra } });

  test('a pod container joins the pod\'s namespaces and has its own mount and cgroup ones; the hostname stays the sandbox\'s', () => {
    const spec = specOf();
    expect(spec.linux?.namespaces).toEqual([
      { type: 'mount' }, { type: 'network', path: '/run/netns/pod' }, { type: 'ipc', path: '/proc/10/ns/ipc' },
      { type: 'uts', path: '/proc/10/ns/uts' }, { type: 'pid', path: '/proc/10/ns/pid' }, { type: 'cgroup' },
    ]);
    expect(spec.hostname).toBeUndefined();
    expect(specOf({ namespaces: {} }).hostname).toBe('pod-host'); // a UTS namespace of its own is named
  });

  test('host network, IPC and PID: no namespace entry; pid CONTAINER: a new one; TARGET needs a path', () => {
    const host = nsOf({ hostNetwork: true, hostIpc: true, hostPid: true, config: config({}, nsOpts('NODE')) });
    expect(host).toEqual([{ type: 'mount' }, { type: 'cgroup' }]);
    expect(nsOf({ config: config({}, nsOpts('CONTAINER')) })).toContainEqual({ type: 'pid' });
    expect(nsOf({ config: config({}, nsOpts('TARGET', { targetId: 'x' })), namespaces: { pid: '/proc/42/ns/pid' } })).toContainEqual({ type: 'pid', path: '/proc/42/ns/pid' });
    expect(errorOf(() => build({ config: config({}, nsOpts('TARGET', { targetId: 'x' })), namespaces: {} })).kind).toBe('FailedPrecondition');
  });

  test('a POD user namespace: joined by path, with the sandbox\'s mappings; mismatches and empty mappings are refused', () => {
    const userns = { mode: 'POD' as const, uids: [{ hostId: 100000, containerId: 0, length: 65536 }], gids: [{ hostId: 100000, containerId: 0, length: 65536 }] };
    const sb = sandboxConfig();
    sb.linux!.securityContext!.namespaceOptions = { network: 'POD', pid: 'POD', ipc: 'POD', targetId: '', usernsOptions: userns };
    const spec = specOf({ sandboxConfig: sb, namespaces: { ...input().namespaces, user: '/proc/10/ns/user' } });
    expect(spec.linux?.namespaces).toContainEqual({ type: 'user', path: '/proc/10/ns/user' });
    expect(spec.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expect(spec.linux?.gidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expectValidForBerthRun(spec);

    const other = nsOpts('POD', { usernsOptions: { ...userns, uids: [{ hostId: 1, containerId: 0, length: 1 }] } });
    expect(errorOf(() => build({ sandboxConfig: sb, config: config({}, other) })).field).toBe('config.linux.security_context.namespace_options.userns_options');
    const empty = nsOpts('POD', { usernsOptions: { ...userns, gids: [] } });
    expect(errorOf(() => build({ config: config({}, empty) })).field).toBe('config.linux.security_context.namespace_options.userns_options.gids');
    // Host network in a user namespace: sysfs cannot be mounted there, so the host's is bound read-only.
    const hostNet = specOf({ sandboxConfig: sb, hostNetwork: true, namespaces: { user: '/proc/10/ns/user' } });
    expect(hostNet.mounts?.find((m) => m.destination === '/sys')).toEqual({ destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'rro', 'nosuid', 'nodev', 'noexec'] });
  });

  test('CDI devices are refused rather than ignored', () => {
    expect(errorOf(() => build({ config: config({ CDIDevices: [{ name: 'vendor.com/gpu=0' }] }) })).field).toBe('config.CDI_devices');
  });
});

describe('resolveInRoot and resolveUser', () => {
  /** base/outside holds "host" files; base/rootfs links to them as a naive join would follow. */
  function rootfs(): { base: string; root: string } {
    const base = tempDir('berth-rootfs-');
    const root = path.join(base, 'rootfs');
    fs.mkdirSync(path.join(base, 'outside', 'etc'), { recursive: true });
    fs.writeFileSync(path.join(base, 'outside', 'etc', 'passwd'), 'outsider:x:0:0::/root:/bin/sh\n');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.mkdirSync(path.join(root, 'outside', 'etc'), { recursive: true });
    fs.mkdirSync(path.join(root, 'data'), { recursive: true });
    // etc/passwd → ../../outside/etc/passwd: leaves the rootfs for base/outside unless `..` stops at the root.
    fs.symlinkSync('../../outside/etc/passwd', path.join(root, 'etc', 'passwd'));
    fs.writeFileSync(path.join(root, 'outside', 'etc', 'passwd'), [
      '# comment', 'root:x:0:0:root:/root:/bin/sh', 'app:x:1000:1000:App:/home/app:/bin/sh', 'nobody:x:65534:65534::/nonexistent:/bin/false', 'broken:x:abc:1::/:/bin/sh', '',
    ].join('\n'));
    // etc/group → /data/group: an absolute link, taken relative to the rootfs.
    fs.symlinkSync('/data/group', path.join(root, 'etc', 'group'));
    fs.writeFileSync(path.join(root, 'data', 'group'), ['root:x:0:', 'app:x:1000:app', 'wheel:x:10:app,root', 'video:x:44:app', 'staff:x:50:'].join('\n') + '\n');
    return { base, root };
  }

  test('resolveInRoot: `..` stops at the root, absolute links restart at it, loops end with ELOOP', () => {
    const { root } = rootfs();
    expect(resolveInRoot(root, '/etc/passwd')).toBe(path.join(root, 'outside/etc/passwd'));
    expect(resolveInRoot(root, '/etc/group')).toBe(path.join(root, 'data/group'));
    expect(resolveInRoot(root, '../../../etc/passwd')).toBe(path.join(root, 'outside/etc/passwd'));
    expect(resolveInRoot(root, '/missing/../etc/group')).toBe(path.join(root, 'data/group'));
    expect(resolveInRoot(root, '/missing/file')).toBe(path.join(root, 'missing/file'));
    fs.symlinkSync('loop2', path.join(root, 'loop1'));
    fs.symlinkSync('loop1', path.join(root, 'loop2'));
    expect(() => resolveInRoot(root, '/loop1')).toThrow(expect.objectContaining({ code: 'ELOOP' }));
  });

  test('names are looked up in the rootfs\' own files, never in those a link points at outside it', () => {
    const { root } = rootfs();
    expect(resolveUser(root, image({ user: 'app' }), null)).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 10, 44], home: '/home/app', username: 'app' });
    const err = errorOf(() => resolveUser(root, image({ user: 'outsider' }), null));
    expect(err.kind).toBe('InvalidArgument');
    expect(err.field).toBe('image.config.User');
  });

  test('image config.User forms: uid, uid:gid, name:group, unknown group; "" is root', () => {
    const { root } = rootfs();
    expect(resolveUser(root, image({ user: '' }), null)).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10], home: '/root', username: 'root' });
    expect(resolveUser(root, image({ user: '1000' }), null)).toMatchObject({ uid: 1000, gid: 1000, username: 'app' });
    expect(resolveUser(root, image({ user: '4242' }), null)).toEqual({ uid: 4242, gid: 0, additionalGids: [0] });
    expect(resolveUser(root, image({ user: '4242:7' }), null)).toMatchObject({ uid: 4242, gid: 7 });
    expect(resolveUser(root, image({ user: 'app:staff' }), null)).toMatchObject({ uid: 1000, gid: 50 });
    expect(errorOf(() => resolveUser(root, image({ user: 'app:nogroup' }), null)).field).toBe('image.config.User');
  });

  test('CRI run_as_username / run_as_user win over the image; run_as_group overrides the gid', () => {
    const { root } = rootfs();
    const img = image({ user: 'app:staff' });
    expect(resolveUser(root, img, sc({ runAsUser: { value: '65534' } }))).toMatchObject({ uid: 65534, gid: 65534, username: 'nobody' });
    expect(resolveUser(root, img, sc({ runAsUsername: 'root', runAsUser: { value: '1000' } }))).toMatchObject({ uid: 0, gid: 0 });
    expect(resolveUser(root, img, sc({ runAsUser: { value: '1000' }, runAsGroup: { value: '3000' } }))).toMatchObject({ uid: 1000, gid: 3000 });
    expect(errorOf(() => resolveUser(root, img, sc({ runAsUsername: 'ghost' }))).field).toBe('config.linux.security_context.run_as_username');
    expect(errorOf(() => resolveUser(root, img, sc({ runAsUser: { value: '-1' } }))).field).toBe('config.linux.security_context.run_as_user.value');
    expect(errorOf(() => resolveUser(root, img, sc({ runAsGroup: { value: '5' } }))).field).toBe('config.linux.security_context.run_as_group');
  });

  test('supplemental groups: Merge adds /etc/group memberships, Strict only the given ones', () => {
    const { root } = rootfs();
    const merge = resolveUser(root, image(), sc({ runAsUser: { value: '1000' }, supplementalGroups: ['5000', '44'] }));
    expect(merge.additionalGids).toEqual([1000, 10, 44, 5000]); // the primary group first, then /etc/group's and the given ones
    const strict = resolveUser(root, image(), sc({ runAsUser: { value: '1000' }, supplementalGroups: ['5000'], supplementalGroupsPolicy: 'Strict' }));
    expect(strict.additionalGids).toEqual([1000, 5000]);
    expect(errorOf(() => resolveUser(root, image(), sc({ runAsUser: { value: '1' }, supplementalGroups: ['x'] }))).field)
      .toBe('config.linux.security_context.supplemental_groups[0]');
  });

  test('a missing, looping or non-regular passwd reads as empty: numeric ids work, names do not', () => {
    const { root } = rootfs();
    fs.rmSync(path.join(root, 'etc', 'passwd'));
    fs.symlinkSync('passwd', path.join(root, 'etc', 'passwd')); // loops on itself
    expect(resolveUser(root, image({ user: '1000' }), null)).toEqual({ uid: 1000, gid: 0, additionalGids: [0] });
    fs.rmSync(path.join(root, 'etc', 'passwd'));
    execFileSync('mkfifo', [path.join(root, 'etc', 'passwd')]); // reading it would block forever
    expect(errorOf(() => resolveUser(root, image({ user: 'app' }), null)).field).toBe('image.config.User');
  });
});

describe('sandbox files', () => {
  test('resolv.conf: the host\'s without DNS config, else search / nameserver / options', () => {
    expect(resolvConf(null, 'nameserver 1.1.1.1\n')).toBe('nameserver 1.1.1.1\n');
    expect(resolvConf({ servers: [], searches: [], options: [] }, 'host\n')).toBe('host\n');
    expect(resolvConf({ servers: ['10.96.0.10', 'fd00::a'], searches: ['ns.svc.cluster.local', 'cluster.local'], options: ['ndots:5'] }, 'host\n'))
      .toBe('search ns.svc.cluster.local cluster.local\nnameserver 10.96.0.10\nnameserver fd00::a\noptions ndots:5\n');
    expect(errorOf(() => resolvConf({ servers: ['dns.example'], searches: [], options: [] }, '')).field).toBe('config.dns_config.servers[0]');
    expect(errorOf(() => resolvConf({ servers: [], searches: ['a\nnameserver 6.6.6.6'], options: [] }, '')).field).toBe('config.dns_config.searches[0]');
  });

  test('hosts and hostname', () => {
    expect(hostsFile('web-0', ['10.1.0.5', 'fd00::5'])).toBe([
      '# Kubernetes-managed hosts file.', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet',
      'fe00::0\tip6-mcastprefix', 'fe00::1\tip6-allnodes', 'fe00::2\tip6-allrouters', '10.1.0.5\tweb-0', 'fd00::5\tweb-0', '',
    ].join('\n'));
    expect(hostnameFile('web-0')).toBe('web-0\n');
    expect(errorOf(() => hostnameFile('a b')).field).toBe('config.hostname');
    expect(errorOf(() => hostsFile('web', ['300.1.1.1'])).field).toBe('ips[0]');
  });
});
