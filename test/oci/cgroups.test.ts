/**
 * The cgroup library against the real cgroupfs of this host (needs root), plus pure tests of parsing, path
 * resolution, conversions, validation and the eBPF device program. On a hybrid host the v2 code path runs on
 * the real cgroup2 mount through unifiedOnly(), limited to the controllers that hierarchy has.
 *
 * Nothing here skips silently: a test whose host feature can be missing on a Debian machine (a controller,
 * swap accounting, a cgroup2 mount, huge pages) is skipped there with the reason in its title, through
 * test/helpers/host.ts (BERTH_TEST_NO_SKIP=1 makes those fail instead); root and a mounted cgroup file system
 * are hard requirements. Where cgroup v1 and v2 need different checks, the test is registered in the variant
 * for this host's mode, named so.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BerthError } from '../../src/common/errors';
import { Logger, silentLogger } from '../../src/common/log';
import type { DeviceCgroupRule, Resources } from '../../src/oci/spec/types';
import { type Cgroup, type CgroupOptions, DEFAULT_ALLOWED_DEVICES, detectCgroupMode, hostLayout, loadCgroup, resolveCgroup, UNIFIED, unifiedOnly } from '../../src/oci/cgroups';
import { buildLayout, type CgroupLayout, hugePageSizes, parseProcCgroup } from '../../src/oci/cgroups/detect';
import { parseCgroupsPath, resolvePaths } from '../../src/oci/cgroups/path';
import { blkioWeightToIoWeight, cpuSharesToWeight, memorySwapMaxValue } from '../../src/oci/cgroups/v2';
import { validateResources } from '../../src/oci/cgroups/validate';
import { attachDeviceProgram } from '../../src/oci/runtime/device-program';
import {
  BPF_DEVCG_ACC_MKNOD,
  BPF_DEVCG_ACC_READ,
  BPF_DEVCG_ACC_WRITE,
  BPF_DEVCG_DEV_BLOCK,
  BPF_DEVCG_DEV_CHAR,
  compileDeviceProgram,
  decodeInsns,
  OP,
  type BpfInsn,
} from '../../src/oci/cgroups/devices-bpf';
import { cgroupV1, cgroupV2, describeIf, describeRequiring, testIf } from '../helpers/host';

const MiB = 1024 * 1024;

function expectBerthError(fn: () => unknown, kind: string, field?: string): BerthError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(BerthError);
  const e = caught as BerthError;
  expect(e.kind).toBe(kind);
  if (field !== undefined) expect(e.field).toBe(field);
  return e;
}

// ---------------------------------------------------------------------------------------------------------
// Pure parts
// ---------------------------------------------------------------------------------------------------------

const HYBRID_MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`;
const HYBRID_SELF = `9:name=systemd:/user.slice/s.scope\n4:memory:/process_api/abc\n5:devices:/\n2:cpuacct:/\n1:cpu:/\n0::/user.slice/s.scope\n`;

describe('layout detection (mountinfo parsing)', () => {
  test('hybrid: v1 hierarchies plus a cgroup2 mount', () => {
    const l = buildLayout({ mountInfo: HYBRID_MOUNTINFO, selfCgroup: HYBRID_SELF, readControllers: () => 'hugetlb\n' });
    expect(l.mode).toBe('hybrid');
    expect(l.v1.map((h) => h.controllers.join(','))).toEqual(['cpu', 'cpuacct', 'memory', 'devices', 'name=systemd']);
    expect(l.v1.find((h) => h.controllers.includes('memory'))?.ownCgroup).toBe('/process_api/abc');
    expect(l.unified).toMatchObject({ mountPoint: '/sys/fs/cgroup/unified', controllers: ['hugetlb'], ownCgroup: '/user.slice/s.scope' });
  });

  test('pure v2, with a leftover named v1 hierarchy and an escaped mount point', () => {
    const mi = `25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
26 20 0:23 / /run/old\\040systemd rw - cgroup cgroup rw,name=systemd
`;
    const l = buildLayout({ mountInfo: mi, selfCgroup: '0::/system.slice/kubelet.service\n', readControllers: () => 'cpuset cpu io memory hugetlb pids rdma misc' });
    expect(l.mode).toBe('v2');
    expect(l.v1).toEqual([]);
    expect(l.unified?.controllers).toContain('memory');
  });

  test('v1 only, co-mounted controllers, duplicate mounts prefer the hierarchy root', () => {
    const mi = `40 30 0:40 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
41 30 0:40 / /host/memory rw - cgroup cgroup rw,memory
42 30 0:41 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
`;
    const l = buildLayout({ mountInfo: mi, selfCgroup: '4:memory:/docker/abc\n3:cpu,cpuacct:/x\n' });
    expect(l.mode).toBe('v1');
    expect(l.unified).toBeUndefined();
    expect(l.v1.find((h) => h.controllers.includes('memory'))?.mountPoint).toBe('/host/memory');
    expect(l.v1.find((h) => h.controllers.includes('cpu'))?.controllers).toEqual(['cpu', 'cpuacct']);
  });

  test('no cgroup mount at all is an error', () => {
    expectBerthError(() => buildLayout({ mountInfo: '1 0 0:1 / / rw - ext4 /dev/vda rw\n', selfCgroup: '' }), 'Unavailable');
  });

  test('parseProcCgroup keeps colons inside paths', () => {
    expect(parseProcCgroup('3:cpu,cpuacct:/a:b\n0::/c\n')).toEqual(new Map([['cpu', '/a:b'], ['cpuacct', '/a:b'], ['', '/c']]));
  });

  test('this host: mode agrees with its mounts', () => {
    const l = hostLayout();
    expect(detectCgroupMode()).toBe(l.mode);
    const mi = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    expect(l.mode === 'v2').toBe(!/ - cgroup cgroup .*(cpu|memory|pids)/.test(mi));
  });
});

describe('cgroupsPath resolution (runc cgroupfs semantics)', () => {
  const nested: CgroupLayout = buildLayout({
    mountInfo: `40 30 0:40 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
41 30 0:41 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
`,
    selfCgroup: '4:memory:/docker/abc/runtime\n0::/pods/p1/runtime\n',
    readControllers: () => '',
  });

  test('absolute: below each hierarchy mount, whatever our own cgroup is', () => {
    expect(resolvePaths(nested, parseCgroupsPath('/kubepods/pod1/c1', 'c1'))).toEqual({
      memory: '/sys/fs/cgroup/memory/kubepods/pod1/c1',
      [UNIFIED]: '/sys/fs/cgroup/unified/kubepods/pod1/c1',
    });
  });

  test('relative: below our own cgroup mapped through the mount root; on pure v2 below its parent', () => {
    expect(resolvePaths(nested, parseCgroupsPath('a/b', 'x'))).toEqual({
      memory: '/sys/fs/cgroup/memory/runtime/a/b',
      [UNIFIED]: '/sys/fs/cgroup/unified/pods/p1/runtime/a/b',
    });
    expect(resolvePaths(unifiedOnly(nested), parseCgroupsPath('a/b', 'x'))).toEqual({ [UNIFIED]: '/sys/fs/cgroup/unified/pods/p1/a/b' });
  });

  test('empty: the container id, relative (what runc 1.1 does)', () => {
    expect(parseCgroupsPath(undefined, 'ctr1')).toEqual({ segments: ['ctr1'], absolute: false });
    expect(parseCgroupsPath('', 'ctr1')).toEqual({ segments: ['ctr1'], absolute: false });
  });

  test('dots that stay inside are normalised; escaping ones are rejected', () => {
    expect(parseCgroupsPath('/a/./b/../c//', 'x')).toEqual({ segments: ['a', 'c'], absolute: true });
    for (const bad of ['/../etc', '/a/../../b', '../sibling', 'a/../..']) {
      expect(expectBerthError(() => parseCgroupsPath(bad, 'x'), 'InvalidArgument', 'linux.cgroupsPath').message).toMatch(/escapes/);
    }
    expectBerthError(() => parseCgroupsPath('/', 'x'), 'InvalidArgument', 'linux.cgroupsPath');
    expectBerthError(() => parseCgroupsPath('.', 'x'), 'InvalidArgument', 'linux.cgroupsPath');
    expectBerthError(() => parseCgroupsPath(undefined, '../x'), 'InvalidArgument', 'id');
  });

  test('systemd "slice:prefix:name" is refused clearly', () => {
    const e = expectBerthError(() => parseCgroupsPath('system.slice:berth:abc', 'abc'), 'InvalidArgument', 'linux.cgroupsPath');
    expect(e.message).toMatch(/systemd/);
  });

  test('our own cgroup outside the mounted part of a hierarchy is a precondition error', () => {
    const l = buildLayout({ mountInfo: '40 30 0:40 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n', selfCgroup: '4:memory:/elsewhere\n' });
    expectBerthError(() => resolvePaths(l, parseCgroupsPath('x', 'x')), 'FailedPrecondition', 'linux.cgroupsPath');
  });
});

describe('conversions and validation', () => {
  test('runc formulas', () => {
    expect([2, 1024, 262144].map(cpuSharesToWeight)).toEqual([1, 39, 10000]);
    expect([10, 500, 1000].map(blkioWeightToIoWeight)).toEqual([1, 4950, 10000]);
    expect(memorySwapMaxValue(100, 300)).toBe('200');
    expect(memorySwapMaxValue(100, 100)).toBe('0');
    expect(memorySwapMaxValue(-1, 0)).toBe('max');
    expect(memorySwapMaxValue(100, -1)).toBe('max');
    expect(memorySwapMaxValue(100, 0)).toBeUndefined();
  });

  const ctx = (mode: 'v1' | 'hybrid' | 'v2') => ({ mode, hugePageSizes: ['2MB', '1GB'] });
  const cases: [string, Resources, 'v1' | 'hybrid' | 'v2', string][] = [
    ['swap below limit', { memory: { limit: 100 * MiB, swap: 50 * MiB } }, 'v1', 'linux.resources.memory.swap'],
    ['v2 swap without limit', { memory: { swap: 50 * MiB } }, 'v2', 'linux.resources.memory.swap'],
    ['fractional limit', { memory: { limit: 1.5 } }, 'v1', 'linux.resources.memory.limit'],
    ['swappiness', { memory: { swappiness: 101 } }, 'v1', 'linux.resources.memory.swappiness'],
    ['v2 shares out of range', { cpu: { shares: 1 } }, 'v2', 'linux.resources.cpu.shares'],
    ['v2 realtime', { cpu: { realtimeRuntime: 1000 } }, 'v2', 'linux.resources.cpu.realtimeRuntime'],
    ['cpus syntax', { cpu: { cpus: '0-1;3' } }, 'hybrid', 'linux.resources.cpu.cpus'],
    ['blkio weight', { blockIO: { weight: 5 } }, 'v1', 'linux.resources.blockIO.weight'],
    ['v2 leaf weight', { blockIO: { leafWeight: 100 } }, 'v2', 'linux.resources.blockIO.leafWeight'],
    ['throttle rate', { blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: -5 }] } }, 'v1', 'linux.resources.blockIO.throttleReadBpsDevice[0].rate'],
    ['hugepage size', { hugepageLimits: [{ pageSize: '3MB', limit: 0 }] }, 'hybrid', 'linux.resources.hugepageLimits[0].pageSize'],
    ['device access', { devices: [{ allow: true, type: 'c', major: 1, minor: 3 }] }, 'v1', 'linux.resources.devices[0].access'],
    ['device type', { devices: [{ allow: true, type: 'x' as 'c', access: 'r' }] }, 'v1', 'linux.resources.devices[0].type'],
    ['unified on v1', { unified: { 'memory.max': '1' } }, 'v1', 'linux.resources.unified'],
    ['unified key shape', { unified: { '../x': '1' } }, 'v2', 'linux.resources.unified["../x"]'],
    ['unified procs', { unified: { 'cgroup.procs': '1' } }, 'v2', 'linux.resources.unified["cgroup.procs"]'],
    ['net_cls on v2', { network: { classID: 1 } }, 'v2', 'linux.resources.network'],
  ];
  test.each(cases)('%s', (_name, r, mode, field) => {
    expectBerthError(() => validateResources(r, ctx(mode)), 'InvalidArgument', field);
  });

  test('valid resources pass', () => {
    expect(() =>
      validateResources(
        { memory: { limit: -1, swap: -1, swappiness: -1 }, cpu: { shares: 1024, quota: -1, cpus: '0-1, 3' }, pids: { limit: -1 }, devices: [...DEFAULT_ALLOWED_DEVICES], unified: { 'hugetlb.2MB.max': '0' } },
        ctx('hybrid'),
      ),
    ).not.toThrow();
  });

  test('hugepage sizes are named like the kernel names the files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-'));
    try {
      for (const d of ['hugepages-64kB', 'hugepages-2048kB', 'hugepages-1048576kB', 'hugepages-16777216kB', 'other']) fs.mkdirSync(path.join(dir, d));
      expect(hugePageSizes(dir).sort()).toEqual(['16GB', '1GB', '2MB', '64KB']);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// eBPF device program
// ---------------------------------------------------------------------------------------------------------

/** A tiny interpreter for exactly the instructions the compiler emits. */
function runDeviceProgram(insns: BpfInsn[], type: number, access: number, major: number, minor: number): number {
  const ctx = [(access << 16) | type, major, minor];
  const r = new Array<number>(11).fill(0);
  let pc = 0;
  for (let steps = 0; steps < 100000; steps++) {
    const i = insns[pc];
    if (!i) throw new Error(`pc ${pc} out of program`);
    pc++;
    switch (i.code) {
      case OP.LDXW:
        expect(i.src).toBe(1);
        r[i.dst] = ctx[i.off / 4] >>> 0;
        break;
      case OP.AND32_K:
        r[i.dst] = (r[i.dst] & i.imm) >>> 0;
        break;
      case OP.RSH32_K:
        r[i.dst] = r[i.dst] >>> i.imm;
        break;
      case OP.MOV32_K:
        r[i.dst] = i.imm >>> 0;
        break;
      case OP.JA:
        pc += i.off;
        break;
      case OP.JNE_K:
        if (r[i.dst] !== i.imm) pc += i.off;
        break;
      case OP.JSET_K:
        if ((r[i.dst] & i.imm) !== 0) pc += i.off;
        break;
      case OP.EXIT:
        return r[0];
      default:
        throw new Error(`unexpected opcode 0x${i.code.toString(16)}`);
    }
  }
  throw new Error('program does not terminate');
}

/** Reference semantics: per requested access bit, the last matching rule decides; default deny. */
function reference(rules: DeviceCgroupRule[], type: 'c' | 'b', access: string, major: number, minor: number): number {
  for (const bit of access) {
    let allowed = false;
    for (const rule of rules) {
      const t = rule.type ?? 'a';
      const matches =
        (rule.access ?? '').includes(bit) &&
        (t === 'a' || (t === type && ((rule.major ?? -1) < 0 || rule.major === major) && ((rule.minor ?? -1) < 0 || rule.minor === minor)));
      if (matches) allowed = rule.allow;
    }
    if (!allowed) return 0;
  }
  return 1;
}

const bitsOf = (access: string): number =>
  (access.includes('r') ? BPF_DEVCG_ACC_READ : 0) | (access.includes('w') ? BPF_DEVCG_ACC_WRITE : 0) | (access.includes('m') ? BPF_DEVCG_ACC_MKNOD : 0);

/** What the verifier insists on: forward jumps inside the program, every instruction reachable, exit last. */
function checkVerifierShape(insns: BpfInsn[]): void {
  const reach = new Array<boolean>(insns.length).fill(false);
  reach[0] = true;
  insns.forEach((i, pc) => {
    if (!reach[pc]) return;
    const isJump = i.code === OP.JA || i.code === OP.JNE_K || i.code === OP.JSET_K;
    if (isJump) {
      expect(i.off).toBeGreaterThanOrEqual(0);
      expect(pc + 1 + i.off).toBeLessThan(insns.length);
      reach[pc + 1 + i.off] = true;
    }
    if (i.code !== OP.EXIT && i.code !== OP.JA) reach[pc + 1] = true;
  });
  expect(reach.every(Boolean)).toBe(true);
  expect(insns[insns.length - 1].code).toBe(OP.EXIT);
}

describe('eBPF device program (cgroup v2)', () => {
  const ruleSets: [string, DeviceCgroupRule[]][] = [
    ['empty (deny everything)', []],
    ['runc defaults after deny-all', [{ allow: false, access: 'rwm' }, ...DEFAULT_ALLOWED_DEVICES]],
    ['allow all', [{ allow: true, access: 'rwm' }]],
    ['allow all then deny one', [{ allow: true, type: 'a', access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 9, access: 'rwm' }]],
    ['later deny of one bit', [{ allow: true, type: 'c', major: 1, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 5, access: 'w' }]],
    ['deny all at the end wins', [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: false, access: 'rwm' }]],
    ['block devices', [{ allow: true, type: 'b', major: 8, access: 'r' }, { allow: true, type: 'b', major: 8, minor: 0, access: 'rw' }]],
  ];

  test.each(ruleSets)('%s: same decisions as the reference, verifier-shaped', (_n, rules) => {
    const insns = decodeInsns(compileDeviceProgram(rules));
    checkVerifierShape(insns);
    for (const type of ['c', 'b'] as const) {
      for (const [major, minor] of [[1, 3], [1, 5], [1, 9], [5, 0], [136, 4], [8, 0], [8, 1], [10, 200], [254, 0]]) {
        for (const access of ['r', 'w', 'm', 'rw', 'rwm', 'wm']) {
          const got = runDeviceProgram(insns, type === 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, bitsOf(access), major, minor);
          expect([type, major, minor, access, got]).toEqual([type, major, minor, access, reference(rules, type, access, major, minor)]);
        }
      }
    }
  });

  test('encoding: struct bpf_insn, 8 bytes each, registers packed dst low / src high (little endian)', () => {
    const buf = compileDeviceProgram([{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]);
    expect(buf.length % 8).toBe(0);
    if (os.endianness() === 'LE') {
      // r2 = *(u32 *)(r1 + 0); w2 &= 0xffff; r3 = *(u32 *)(r1 + 0); w3 >>= 16; r4 = *(u32 *)(r1 + 4)
      expect(buf.subarray(0, 40).toString('hex')).toBe('6112000000000000' + '54020000ffff0000' + '6113000000000000' + '7403000010000000' + '6114040000000000');
      // ends with w0 = 1; exit
      expect(buf.subarray(buf.length - 16).toString('hex')).toBe('b400000001000000' + '9500000000000000');
    }
    expect(decodeInsns(buf).length).toBe(buf.length / 8);
  });

  test('invalid rules are refused with the field', () => {
    expectBerthError(() => compileDeviceProgram([{ allow: true, type: 'c', major: 2 ** 32, access: 'r' }]), 'InvalidArgument', 'linux.resources.devices[0].major');
    expectBerthError(() => compileDeviceProgram([{ allow: true, type: 'c', access: 'rx' }]), 'InvalidArgument', 'linux.resources.devices[0].access');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Real cgroupfs
// ---------------------------------------------------------------------------------------------------------

const isRoot = process.getuid?.() === 0;
const layout: CgroupLayout | undefined = (() => {
  try {
    return hostLayout();
  } catch {
    return undefined;
  }
})();

const describeRoot = describeRequiring(isRoot && !!layout, 'root and a mounted cgroup filesystem');
const TOP = `berth-cgtest-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const children = new Set<ChildProcess>();
const opts: CgroupOptions = { logger: silentLogger };

interface Proc {
  child: ChildProcess;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Lets a "read _"-gated script continue (after it was moved into the cgroup). */
  go: () => void;
}

function start(script: string): Proc {
  const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => children.delete(child), () => undefined);
  if (child.pid === undefined) throw new Error('spawn failed');
  return { child, pid: child.pid, stdout: () => out, stderr: () => err, exited, go: () => child.stdin?.write('\n') };
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const read = (dir: string, file: string): string => fs.readFileSync(path.join(dir, file), 'utf8').trim();
const procCgroup = (pid: number): Map<string, string> => parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

/** Every directory whose name starts with TOP, below any mount or our own cgroups (independent of the library). */
function leftovers(): string[] {
  if (!layout) return [];
  const found: string[] = [];
  const hs = [...layout.v1, ...(layout.unified ? [layout.unified] : [])];
  const bases = new Set<string>();
  for (const h of hs) {
    bases.add(h.mountPoint);
    const own = path.join(h.mountPoint, path.relative(h.root, h.ownCgroup));
    bases.add(own);
    bases.add(path.dirname(own));
  }
  for (const b of bases) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(b);
    } catch {
      continue;
    }
    for (const n of names) if (n.startsWith(TOP)) found.push(path.join(b, n));
  }
  return found;
}

/** Kills whatever is left in `dir` and removes it bottom-up; used only when a test failed half way. */
function forceRemove(dir: string): void {
  const subdirs = (d: string): string[] =>
    fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => [...subdirs(path.join(d, e.name)), path.join(d, e.name)]);
  const all = [...subdirs(dir), dir];
  for (const d of all) {
    for (const [f, v] of [['freezer.state', 'THAWED'], ['cgroup.freeze', '0']]) {
      try {
        fs.writeFileSync(path.join(d, f), v);
      } catch {
        /* not that kind of cgroup */
      }
    }
    try {
      for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const d of all) {
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(d);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
  }
}

function killChildren(): void {
  for (const c of children) {
    try {
      if (c.pid) process.kill(c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

describeRoot('on the real cgroupfs', () => {
  const host = layout as CgroupLayout;
  const made: Cgroup[] = [];
  const open = (name: string, o: CgroupOptions = {}): Cgroup => {
    const cg = resolveCgroup(`/${TOP}/${name}`, name, { ...opts, ...o });
    made.push(cg);
    return cg;
  };

  afterEach(() => {
    killChildren();
    for (const cg of made.splice(0)) {
      try {
        cg.thaw();
      } catch {
        /* not created or no freezer */
      }
      try {
        cg.killAll('SIGKILL');
      } catch {
        /* nothing to kill */
      }
      try {
        cg.destroy();
      } catch {
        /* leftovers() + forceRemove below */
      }
    }
  });

  afterAll(() => {
    killChildren();
    const left = leftovers();
    // Test parents (/TOP) are expected here; anything below them means a destroy() failed.
    const nested = left.flatMap((d) => fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(d, e.name)));
    for (const d of left) forceRemove(d);
    expect(leftovers()).toEqual([]);
    expect(nested).toEqual([]);
  });

  const v1 = host.mode !== 'v2';

  // The controllers whose files this test writes and reads back, in this host's mode.
  const limitControllers = v1 ? cgroupV1('memory', 'cpu', 'cpuset', 'pids', 'blkio') : cgroupV2('memory', 'cpu', 'pids', 'io');
  testIf(limitControllers)('create makes every hierarchy directory, apply writes limits the kernel then reports', () => {
    const cg = open('limits');
    // Absolute cgroupsPath: directly below each mount.
    for (const [key, dir] of Object.entries(cg.paths)) {
      const h = key === UNIFIED ? host.unified : host.v1.find((x) => x.controllers.includes(key));
      expect(dir).toBe(path.join(h?.mountPoint ?? '?', TOP, 'limits'));
    }
    cg.create();
    cg.create(); // idempotent
    for (const dir of Object.values(cg.paths)) expect(fs.statSync(dir).isDirectory()).toBe(true);

    const blockDev = fs.readdirSync('/sys/block').map((d) => fs.readFileSync(`/sys/block/${d}/dev`, 'utf8').trim())[0];
    const [maj, min] = blockDev.split(':').map(Number);
    const r: Resources = {
      memory: { limit: 64 * MiB, reservation: 32 * MiB, swappiness: v1 ? 10 : undefined, disableOOMKiller: false },
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0', mems: '0' },
      pids: { limit: 42 },
      blockIO: { throttleReadBpsDevice: [{ major: maj, minor: min, rate: MiB }] },
    };
    cg.apply(r);
    if (v1) {
      const p = cg.paths;
      expect(read(p.memory, 'memory.limit_in_bytes')).toBe(String(64 * MiB));
      expect(read(p.memory, 'memory.soft_limit_in_bytes')).toBe(String(32 * MiB));
      expect(read(p.memory, 'memory.swappiness')).toBe('10');
      expect(read(p.cpu, 'cpu.shares')).toBe('512');
      expect(read(p.cpu, 'cpu.cfs_quota_us')).toBe('50000');
      expect(read(p.cpu, 'cpu.cfs_period_us')).toBe('100000');
      expect(read(p.cpuset, 'cpuset.cpus')).toBe('0');
      expect(read(p.pids, 'pids.max')).toBe('42');
      expect(read(p.blkio, 'blkio.throttle.read_bps_device')).toBe(`${blockDev} ${MiB}`);
    } else {
      const d = cg.paths[UNIFIED];
      expect(read(d, 'memory.max')).toBe(String(64 * MiB));
      expect(read(d, 'memory.low')).toBe(String(32 * MiB));
      expect(read(d, 'cpu.weight')).toBe(String(cpuSharesToWeight(512)));
      expect(read(d, 'cpu.max')).toBe('50000 100000');
      expect(read(d, 'pids.max')).toBe('42');
      expect(read(d, 'io.max')).toContain(`${blockDev} rbps=${MiB}`);
    }
    // Update: only what is given changes; -1 means unlimited.
    cg.apply({ pids: { limit: -1 }, cpu: { quota: -1 } });
    expect(read(cg.paths.pids ?? cg.paths[UNIFIED], 'pids.max')).toBe('max');
    if (v1) {
      expect(read(cg.paths.cpu, 'cpu.cfs_quota_us')).toBe('-1');
      expect(read(cg.paths.memory, 'memory.limit_in_bytes')).toBe(String(64 * MiB));
    }
  });

  test('kernel memory limits are ignored with a warning, as runc does', () => {
    const logFile = path.join(os.tmpdir(), `berth-cgtest-log-${process.pid}`);
    try {
      const cg = open('kmem', { logger: new Logger({ level: 'warn', destination: logFile }) });
      cg.create();
      cg.apply({ memory: { kernel: 64 * MiB, kernelTCP: 8 * MiB } });
      const log = fs.readFileSync(logFile, 'utf8');
      expect(log).toContain('linux.resources.memory.kernel is ignored');
      expect(log).toContain('linux.resources.memory.kernelTCP is ignored');
    } finally {
      fs.rmSync(logFile, { force: true });
    }
  });

  // Swap accounting shows in the memory hierarchy's root too.
  const memRoot = host.v1.find((h) => h.controllers.includes('memory'))?.mountPoint;
  const hasMemsw = !!memRoot && fs.existsSync(path.join(memRoot, 'memory.memsw.limit_in_bytes'));
  if (v1) {
    testIf(hasMemsw, 'cgroup v1 memory swap accounting (memory.memsw.*; boot with swapaccount=1)')('memory+swap, cgroup v1 host: limits raised and lowered in the order the kernel accepts', () => {
      const cg = open('memsw');
      cg.create();
      const m = cg.paths.memory;
      const check = (limit: number, swap: number): void => {
        expect(read(m, 'memory.limit_in_bytes')).toBe(String(limit));
        expect(read(m, 'memory.memsw.limit_in_bytes')).toBe(String(swap));
      };
      cg.apply({ memory: { limit: 64 * MiB, swap: 128 * MiB } });
      check(64 * MiB, 128 * MiB);
      cg.apply({ memory: { limit: 256 * MiB, swap: 512 * MiB } }); // both above the old memsw: memsw first
      check(256 * MiB, 512 * MiB);
      cg.apply({ memory: { limit: 32 * MiB, swap: 48 * MiB } }); // both below the old limit: limit first
      check(32 * MiB, 48 * MiB);
      cg.apply({ memory: { limit: -1 } }); // unlimited memory, swap unset → both unlimited (runc)
      expect(Number(read(m, 'memory.limit_in_bytes'))).toBeGreaterThan(2 ** 62);
      expect(Number(read(m, 'memory.memsw.limit_in_bytes'))).toBeGreaterThan(2 ** 62);
    });
  } else {
    testIf(!!host.unified?.controllers.includes('memory'), 'the memory controller on the cgroup2 mount')('memory+swap, cgroup v2 host: memory.max and memory.swap.max (swap alone)', () => {
      const cg = open('memsw');
      cg.create();
      const d = cg.paths[UNIFIED];
      if (!fs.existsSync(path.join(d, 'memory.swap.max'))) {
        // A kernel without swap: named, not skipped.
        expectBerthError(() => cg.apply({ memory: { limit: 64 * MiB, swap: 128 * MiB } }), 'FailedPrecondition', 'linux.resources.memory.swap');
        return;
      }
      cg.apply({ memory: { limit: 64 * MiB, swap: 128 * MiB } });
      expect(read(d, 'memory.max')).toBe(String(64 * MiB));
      expect(read(d, 'memory.swap.max')).toBe(String(64 * MiB));
      cg.apply({ memory: { limit: 32 * MiB, swap: 48 * MiB } });
      expect(read(d, 'memory.max')).toBe(String(32 * MiB));
      expect(read(d, 'memory.swap.max')).toBe(String(16 * MiB));
      cg.apply({ memory: { limit: -1 } });
      expect(read(d, 'memory.max')).toBe('max');
      expect(read(d, 'memory.swap.max')).toBe('max');
    });
  }

  test(`device rules, ${v1 ? 'cgroup v1 host: devices controller' : 'cgroup v2 host: eBPF program through berth-init'}: deny all, then the allows; enforced on a real process`, async () => {
    // The v2 variant runs on a hybrid host too, in the cgroup2 section below.
    const cg = open('devices', v1 ? {} : { loadDeviceProgram: attachDeviceProgram });
    cg.create();
    cg.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }] });
    if (v1) expect(read(cg.paths.devices, 'devices.list').split('\n').sort()).toEqual(['c 1:3 rwm', 'c 1:5 r']);
    const p = start('read _; cat /dev/null && echo null-ok; head -c 1 /dev/zero >/dev/null && echo zero-read-ok; (echo x > /dev/zero) 2>/dev/null || echo zero-write-denied; cat /dev/full 2>/dev/null || echo full-denied');
    await cg.addProcess(p.pid);
    p.go();
    await p.exited;
    expect(p.stdout().trim().split('\n')).toEqual(['null-ok', 'zero-read-ok', 'zero-write-denied', 'full-denied']);
  });

  test('addProcess moves a real process; pids(), /proc/PID/cgroup, killAll', async () => {
    const cg = open('procs');
    cg.create();
    const a = start('exec sleep 30');
    const b = start('exec sleep 30');
    await cg.addProcess(a.pid);
    await cg.addProcess(b.pid);
    expect(cg.pids()).toEqual([a.pid, b.pid].sort((x, y) => x - y));
    const mine = procCgroup(a.pid);
    for (const [key, dir] of Object.entries(cg.paths)) {
      const h = key === UNIFIED ? host.unified : host.v1.find((x) => x.controllers.includes(key));
      expect(mine.get(key === UNIFIED ? '' : key)).toBe(path.join(h?.root ?? '/', path.relative(h?.mountPoint ?? '/', dir)));
    }
    await expect(cg.addProcess(0)).rejects.toMatchObject({ kind: 'InvalidArgument', field: 'pid' });
    await expect(cg.addProcess(2 ** 22 + 12345)).rejects.toMatchObject({ kind: 'NotFound' });

    cg.killAll('SIGTERM');
    expect(await a.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await b.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(cg.state()).toBe('thawed'); // the freeze around the signalling was undone
    await waitFor(() => cg.pids().length === 0);
    cg.destroy();
    cg.destroy(); // idempotent
    for (const dir of Object.values(cg.paths)) expect(fs.existsSync(dir)).toBe(false);
  });

  test('pids.limit is enforced: a shell in the cgroup cannot fork beyond it', async () => {
    const cg = open('pidlimit');
    cg.create();
    cg.apply({ pids: { limit: 4 } });
    const p = start('read _; for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; echo done; wait');
    await cg.addProcess(p.pid);
    p.go();
    await waitFor(() => /fork/i.test(p.stderr()) || p.stdout().includes('done'));
    await waitFor(() => /fork/i.test(p.stderr()), 2000);
    const dir = cg.paths.pids ?? cg.paths[UNIFIED];
    expect(Number(read(dir, 'pids.current'))).toBeLessThanOrEqual(4);
    expect(cg.stats().pids).toMatchObject({ limit: 4 });
    expect(Number(/max (\d+)/.exec(read(dir, 'pids.events'))?.[1])).toBeGreaterThan(0);
    cg.killAll('SIGKILL');
    await p.exited;
    await waitFor(() => cg.pids().length === 0);
  });

  test('freeze stops a busy process, thaw resumes it', async () => {
    const cg = open('freeze');
    cg.create();
    const p = start('read _; while :; do :; done');
    await cg.addProcess(p.pid);
    p.go();
    await new Promise((r) => setTimeout(r, 50));
    cg.freeze();
    expect(cg.state()).toBe('frozen');
    if (cg.paths.freezer) expect(read(cg.paths.freezer, 'freezer.state')).toBe('FROZEN');
    else expect(read(cg.paths[UNIFIED], 'cgroup.events')).toContain('frozen 1');
    const t0 = cpuTicks(p.pid);
    await new Promise((r) => setTimeout(r, 150));
    expect(cpuTicks(p.pid)).toBe(t0);
    cg.thaw();
    expect(cg.state()).toBe('thawed');
    await waitFor(() => cpuTicks(p.pid) > t0, 2000);
    // A paused container stays paused when signalled with anything but SIGKILL.
    cg.freeze();
    cg.killAll('SIGCONT');
    expect(cg.state()).toBe('frozen');
    cg.killAll('SIGKILL');
    expect((await p.exited).signal).toBe('SIGKILL');
  });

  test('stats: plausible numbers from a process that used memory and CPU', async () => {
    const cg = open('stats');
    cg.create();
    cg.apply({ memory: { limit: 256 * MiB }, pids: { limit: 50 } });
    // The variable keeps ~4 MB of anonymous memory charged to the cgroup while sleep runs.
    const p = start("read _; x=$(head -c 4000000 /dev/zero | tr '\\0' a); echo ready; sleep 30; echo ${#x}");
    await cg.addProcess(p.pid);
    p.go();
    await waitFor(() => p.stdout().includes('ready'));
    // "ready" can arrive before the shell has forked sleep.
    await waitFor(() => cg.pids().length === 2);
    const s = cg.stats();
    expect(s.cpu?.usageNs).toBeGreaterThan(0);
    expect((s.cpu?.userNs ?? 0) + (s.cpu?.systemNs ?? 0)).toBeGreaterThan(0);
    expect(s.memory?.usage).toBeGreaterThan(4 * MiB);
    expect(s.memory?.limit).toBe(256 * MiB);
    expect(s.memory?.rss).toBeGreaterThan(3 * MiB);
    expect(s.memory?.workingSet).toBeGreaterThan(0);
    expect(s.memory?.workingSet).toBeLessThanOrEqual(s.memory?.usage ?? 0);
    expect(s.pids).toEqual({ current: 2, limit: 50 });
    expect(s.blkio).toBeDefined();
    expect(cg.oomKillCount()).toBe(0);
  });

  test('oomKillCount counts a real OOM kill', async () => {
    const cg = open('oom');
    cg.create();
    cg.apply({ memory: { limit: 16 * MiB, swap: 16 * MiB } });
    const p = start("read _; x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived");
    await cg.addProcess(p.pid);
    p.go();
    await p.exited;
    expect(p.stdout()).not.toContain('survived');
    expect(cg.oomKillCount()).toBeGreaterThanOrEqual(1);
    expect(cg.stats().memory?.oomKills).toBeGreaterThanOrEqual(1);
  });

  test('destroy removes sub-cgroups the container made, in every hierarchy', async () => {
    const cg = open('nested');
    cg.create();
    for (const dir of new Set(Object.values(cg.paths))) fs.mkdirSync(path.join(dir, 'inner', 'deeper'), { recursive: true });
    const p = start('exec sleep 30');
    await cg.addProcess(p.pid);
    cg.killAll('SIGKILL');
    await p.exited;
    cg.destroy();
    for (const dir of Object.values(cg.paths)) expect(fs.existsSync(dir)).toBe(false);
    // The parent (/TOP) stays: destroy removes only the container's own cgroup.
    expect(fs.existsSync(path.dirname(Object.values(cg.paths)[0]))).toBe(true);
  });

  test('destroy refuses, clearly, while processes remain', async () => {
    const cg = open('busy');
    cg.create();
    const p = start('exec sleep 30');
    await cg.addProcess(p.pid);
    expect(expectBerthError(() => cg.destroy(), 'FailedPrecondition').message).toContain(String(p.pid));
    cg.killAll('SIGKILL');
    await p.exited;
    cg.destroy();
  });

  test('relative and empty cgroupsPath resolve below our own cgroup in each hierarchy', () => {
    const self = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
    const expected = (key: string, rel: string): string => {
      const h = key === UNIFIED ? host.unified : host.v1.find((x) => x.controllers.includes(key));
      if (!h) throw new Error(key);
      let own = self.get(key === UNIFIED ? '' : key) ?? '/';
      if (key === UNIFIED && host.mode === 'v2') own = path.dirname(own);
      return path.join(h.mountPoint, path.relative(h.root, own), rel);
    };
    const cg = resolveCgroup(`${TOP}-rel/c`, 'c', opts);
    made.push(cg);
    for (const [key, dir] of Object.entries(cg.paths)) expect(dir).toBe(expected(key, `${TOP}-rel/c`));
    const byId = resolveCgroup(undefined, `${TOP}-id`, opts);
    made.push(byId);
    for (const [key, dir] of Object.entries(byId.paths)) expect(dir).toBe(expected(key, `${TOP}-id`));
    cg.create();
    cg.destroy();
    for (const dir of Object.values(cg.paths)) expect(fs.existsSync(dir)).toBe(false);
    for (const dir of Object.values(cg.paths)) fs.rmdirSync(path.dirname(dir)); // the parent create() made
  });

  test('invalid input: errors name the field and nothing is left behind', () => {
    expectBerthError(() => resolveCgroup(`/${TOP}/../../etc`, 'x', opts), 'InvalidArgument', 'linux.cgroupsPath');
    const cg = open('invalid');
    // Validation happens before any write, so a bad spec cannot leave a half-configured cgroup.
    expectBerthError(() => cg.apply({ memory: { limit: 64 * MiB, swap: MiB } }), 'InvalidArgument', 'linux.resources.memory.swap');
    for (const dir of Object.values(cg.paths)) expect(fs.existsSync(dir)).toBe(false);
    // Applying before create is a precondition error, not a silent no-op.
    expectBerthError(() => cg.apply({ pids: { limit: 5 } }), 'FailedPrecondition');
    cg.create();
    if (v1) {
      // A feature this kernel lacks (no CFQ → no blkio.leaf_weight): named, not skipped.
      if (!fs.existsSync(path.join(cg.paths.blkio, 'blkio.leaf_weight'))) {
        const e = expectBerthError(() => cg.apply({ blockIO: { leafWeight: 500 } }), 'FailedPrecondition', 'linux.resources.blockIO.leafWeight');
        expect(e.message).toMatch(/blkio.leaf_weight/);
      }
      expectBerthError(() => cg.apply({ cpu: { shares: 1_000_000 } }), 'InvalidArgument', 'linux.resources.cpu.shares');
    }
    expectBerthError(() => cg.apply({ cpu: { cpus: '4095' } }), 'InvalidArgument', 'linux.resources.cpu.cpus');
    cg.destroy();
    for (const dir of Object.values(cg.paths)) expect(fs.existsSync(dir)).toBe(false);
  });

  test('loadCgroup re-opens from saved paths and refuses foreign ones', async () => {
    const cg = open('reload');
    cg.create();
    const p = start('exec sleep 30');
    await cg.addProcess(p.pid);
    const again = loadCgroup(JSON.parse(JSON.stringify(cg.paths)) as Record<string, string>, opts);
    expect(again.pids()).toEqual([p.pid]);
    expect(again.stats().pids?.current).toBe(1);
    expectBerthError(() => loadCgroup({ memory: '/etc' }, opts), 'InvalidArgument');
    again.killAll('SIGKILL');
    await p.exited;
  });

  // ---- cgroup2 specifics, on whatever cgroup2 mount this host has ----

  const sizes = hugePageSizes();
  const hasHugetlbV2 = !!host.unified?.controllers.includes('hugetlb') && sizes.length > 0;

  describeIf(!!host.unified, 'a cgroup2 mount (pure v2, or hybrid with /sys/fs/cgroup/unified)')('cgroup v2 path on the real cgroup2 mount', () => {
    const v2opts = (): CgroupOptions => ({ ...opts, layout: unifiedOnly(host) });

    test('create enables controllers on ancestors; core files: procs, freeze, events, kill; stats', async () => {
      const cg = open('v2core', v2opts());
      expect(cg.mode).toBe('v2');
      expect(Object.keys(cg.paths)).toEqual([UNIFIED]);
      const dir = cg.paths[UNIFIED];
      cg.create();
      const parent = path.dirname(dir);
      for (const c of host.unified?.controllers ?? []) expect(read(parent, 'cgroup.subtree_control').split(' ')).toContain(c);
      expect(read(dir, 'cgroup.controllers')).toBe(read(parent, 'cgroup.subtree_control'));

      const p = start('read _; while :; do :; done');
      await cg.addProcess(p.pid);
      p.go();
      expect(cg.pids()).toEqual([p.pid]);
      expect(procCgroup(p.pid).get('')).toBe(path.join(host.unified?.root ?? '/', path.relative(host.unified?.mountPoint ?? '/', dir)));
      await new Promise((r) => setTimeout(r, 30));
      cg.freeze();
      expect(read(dir, 'cgroup.freeze')).toBe('1');
      expect(read(dir, 'cgroup.events')).toContain('frozen 1');
      expect(cg.state()).toBe('frozen');
      const t0 = cpuTicks(p.pid);
      await new Promise((r) => setTimeout(r, 100));
      expect(cpuTicks(p.pid)).toBe(t0);
      cg.thaw();
      expect(read(dir, 'cgroup.events')).toContain('frozen 0');
      await waitFor(() => cpuTicks(p.pid) > t0, 2000);
      const s = cg.stats();
      expect(s.cpu?.usageNs).toBeGreaterThan(0); // cpu.stat is core in v2
      cg.killAll('SIGKILL'); // through cgroup.kill
      expect((await p.exited).signal).toBe('SIGKILL');
      await waitFor(() => read(dir, 'cgroup.events').includes('populated 0'));
      cg.destroy();
      expect(fs.existsSync(dir)).toBe(false);
    });

    test('limits for controllers the hierarchy lacks fail naming the field', () => {
      const cg = open('v2missing', v2opts());
      cg.create();
      const avail = host.unified?.controllers ?? [];
      if (!avail.includes('memory')) expectBerthError(() => cg.apply({ memory: { limit: 64 * MiB } }), 'FailedPrecondition', 'linux.resources.memory');
      if (!avail.includes('pids')) expectBerthError(() => cg.apply({ pids: { limit: 5 } }), 'FailedPrecondition', 'linux.resources.pids.limit');
      if (!avail.includes('memory')) {
        const e = expectBerthError(() => cg.apply({ unified: { 'memory.high': '1000000' } }), 'FailedPrecondition', 'linux.resources.unified["memory.high"]');
        expect(e.message).toMatch(/controller memory is not available/);
      }
      // Device rules on v2 without a loader are refused, never silently unenforced.
      expectBerthError(() => cg.apply({ devices: [{ allow: false, access: 'rwm' }] }), 'Unimplemented', 'linux.resources.devices');
    });

    testIf(hasHugetlbV2, 'the hugetlb controller on the cgroup2 mount and huge page sizes in /sys/kernel/mm/hugepages')('hugetlb limits and the unified map are written as v2 files', () => {
      const cg = open('v2huge', v2opts());
      cg.create();
      const dir = cg.paths[UNIFIED];
      cg.apply({ hugepageLimits: sizes.map((s, i) => ({ pageSize: s, limit: (i + 1) * 2 * 1024 * MiB })) });
      sizes.forEach((s, i) => {
        expect(read(dir, `hugetlb.${s}.max`)).toBe(String((i + 1) * 2 * 1024 * MiB));
        if (fs.existsSync(path.join(dir, `hugetlb.${s}.rsvd.max`))) expect(read(dir, `hugetlb.${s}.rsvd.max`)).toBe(String((i + 1) * 2 * 1024 * MiB));
      });
      // unified entries are written last and so override converted values.
      cg.apply({ hugepageLimits: [{ pageSize: sizes[0], limit: 0 }], unified: { [`hugetlb.${sizes[0]}.max`]: 'max' } });
      expect(read(dir, `hugetlb.${sizes[0]}.max`)).toBe('max');
      expect(cg.stats().hugetlb[sizes[0]]).toEqual({ usage: 0, failcnt: 0 });
    });

    const v2dev = (name: string): Cgroup => open(name, { ...v2opts(), loadDeviceProgram: attachDeviceProgram });
    /** Runs `script` in the cgroup and returns its stdout and stderr lines. */
    const runIn = async (cg: Cgroup, script: string): Promise<{ out: string[]; err: string }> => {
      const p = start(`read _; ${script}`);
      await cg.addProcess(p.pid);
      p.go();
      await p.exited;
      return { out: p.stdout().trim().split('\n'), err: p.stderr() };
    };
    // Uses /dev/null only where it tests it (it may be denied); stderr keeps the shell's errors.
    const NULL_ZERO = 'echo x > /dev/null && echo null-write-ok; [ "$(head -c 1 /dev/zero | wc -c)" -eq 1 ] && echo zero-read-ok; (echo x > /dev/zero) || echo zero-write-denied';

    test('compiled device program loads, attaches and is enforced by the kernel', async () => {
      const cg = v2dev('v2devices');
      cg.create();
      cg.apply({ devices: [{ allow: false, access: 'rwm' }, ...DEFAULT_ALLOWED_DEVICES, { allow: false, type: 'c', major: 1, minor: 5, access: 'w' }] });
      const r = await runIn(cg, 'cat /dev/null && echo null-ok; head -c 1 /dev/zero >/dev/null && echo zero-read-ok; (echo x > /dev/zero) 2>/dev/null || echo zero-write-denied; (cat /dev/mem) 2>/dev/null || echo mem-denied');
      expect(r.out).toEqual(['null-ok', 'zero-read-ok', 'zero-write-denied', 'mem-denied']);
    });

    test('deny all + allow /dev/null: /dev/null writable, /dev/zero refused with EPERM; a new rule set replaces the old', async () => {
      const cg = v2dev('v2devreplace');
      cg.create();
      cg.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }] });
      let r = await runIn(cg, NULL_ZERO);
      expect(r.out).toEqual(['null-write-ok', 'zero-write-denied']);
      expect(r.err).toMatch(/\/dev\/zero.*: Operation not permitted/);

      // Replacing: /dev/null now denied, /dev/zero readable. zero-read-ok also proves the old program is gone:
      // every attached program must allow an access, and the old one denied /dev/zero.
      cg.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }] });
      r = await runIn(cg, NULL_ZERO);
      expect(r.out).toEqual(['zero-read-ok', 'zero-write-denied']);
      expect(r.err).toMatch(/\/dev\/null.*: Operation not permitted/);
      expect(r.err).not.toMatch(/\/dev\/zero.*for reading/);

      // Applying the same rules again (an update) is a replacement too, not a second program.
      cg.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }] });
      cg.apply({ devices: [{ allow: true, access: 'rwm' }] });
      r = await runIn(cg, NULL_ZERO);
      expect(r.out).toEqual(['null-write-ok', 'zero-read-ok']);
    });

    test('a program the verifier rejects is a clear error naming the field, and the old filter stays', async () => {
      const cg = v2dev('v2devbad');
      cg.create();
      cg.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }] });
      const dir = cg.paths[UNIFIED];
      // Opcode 0xff does not exist; the second instruction is a valid exit.
      const garbage = Buffer.from('ffffffffffffffff9500000000000000', 'hex');
      const e = expectBerthError(() => attachDeviceProgram(dir, garbage), 'FailedPrecondition', 'linux.resources.devices');
      expect(e.message).toMatch(/^linux\.resources\.devices: load device program \(2 instructions\): Invalid argument; verifier: .*unknown opcode ff/);
      // A falls-off-the-end program (no exit): rejected with the verifier's reason too.
      const noExit = Buffer.from('b700000001000000', 'hex');
      expect(expectBerthError(() => attachDeviceProgram(dir, noExit), 'FailedPrecondition', 'linux.resources.devices').message).toMatch(/verifier: .+/);
      expect(expectBerthError(() => attachDeviceProgram(dir, Buffer.alloc(12)), 'FailedPrecondition').message).toMatch(/not a sequence of 8-byte instructions/);
      expect(expectBerthError(() => attachDeviceProgram(host.v1[0]?.mountPoint ?? '/proc', garbage), 'FailedPrecondition').message).toMatch(/is not a cgroup v2 directory/);
      expect(expectBerthError(() => attachDeviceProgram(path.join(dir, 'nonexistent'), garbage), 'FailedPrecondition').message).toMatch(/open cgroup .*No such file or directory/);
      // Nothing was replaced: /dev/null only, as before.
      const r = await runIn(cg, NULL_ZERO);
      expect(r.out).toEqual(['null-write-ok', 'zero-write-denied']);
    });
  });

  // One variant per host mode; this host's is the one registered.
  describe(`host mode: this host is ${host.mode}, so the ${host.mode} variant runs`, () => {
    if (host.mode === 'v2') {
      test('pure v2: the unified map is written to the one cgroup2 hierarchy', () => {
        const cg = open('modev2');
        cg.create();
        cg.apply({ unified: { 'pids.max': '7' } });
        expect(read(cg.paths[UNIFIED], 'pids.max')).toBe('7');
      });
      return;
    }
    if (host.mode === 'v1') {
      test('v1 only: the unified map is refused, there is no cgroup2 hierarchy', () => {
        const cg = open('modev1');
        cg.create();
        expectBerthError(() => cg.apply({ unified: { 'pids.max': '7' } }), 'InvalidArgument');
      });
      return;
    }
    const inUnified = host.unified?.controllers.includes('hugetlb') ?? false;
    const hugetlb = testIf(sizes.length > 0 && (inUnified || host.v1.some((h) => h.controllers.includes('hugetlb'))), 'a hugetlb controller (v1 or on the cgroup2 mount) and huge page sizes in /sys/kernel/mm/hugepages');
    hugetlb('hybrid: hugetlb goes to whichever hierarchy has it; the unified map where the file exists', () => {
      const cg = open('hybrid');
      cg.create();
      cg.apply({ hugepageLimits: [{ pageSize: sizes[0], limit: 4 * 1024 * MiB }] });
      if (inUnified) expect(read(cg.paths[UNIFIED], `hugetlb.${sizes[0]}.max`)).toBe(String(4 * 1024 * MiB));
      else expect(read(cg.paths.hugetlb, `hugetlb.${sizes[0]}.limit_in_bytes`)).toBe(String(4 * 1024 * MiB));
      if (inUnified) {
        cg.apply({ unified: { [`hugetlb.${sizes[0]}.max`]: String(2 * 1024 * MiB) } });
        expect(read(cg.paths[UNIFIED], `hugetlb.${sizes[0]}.max`)).toBe(String(2 * 1024 * MiB));
      }
    });
    test('hybrid: the unified map is refused for a file the cgroup2 hierarchy lacks', () => {
      const cg = open('hybridmap');
      cg.create();
      const e = expectBerthError(() => cg.apply({ unified: { 'memory.max': '1000000' } }), 'FailedPrecondition', 'linux.resources.unified["memory.max"]');
      expect(e.message).toMatch(/hybrid/);
    });
  });
});
