/**
 * The CRI metrics (ListMetricDescriptors / ListPodSandboxMetrics) without berthd: the parsers on sample texts
 * of the kernel's files, the v1 and v2 readers on fake cgroup directories, the descriptor table against what
 * critest v1.37 expects, and the reader on a real cgroup of this host (v1 controllers, and cgroup2 where
 * mounted) holding a real busybox sleep. Needs root for the real part; its cgroups and process are removed in
 * afterAll, also when a test failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addCgroupMetrics, addIoMetrics, addLayerMetrics, addNetworkMetrics, addProcessMetrics, MetricList } from '../../src/cri/metrics/build';
import { cgroupDirs, cgroupDirsOfPid, cgroupPids, readCgroup } from '../../src/cri/metrics/cgroup';
import { mergeBlkio, readCgroupV1 } from '../../src/cri/metrics/cgroup-v1';
import { readCgroupV2, readPressure } from '../../src/cri/metrics/cgroup-v2';
import { collectContainer, collectPod } from '../../src/cri/metrics/collect';
import { BASE_LABELS, metricDescriptors } from '../../src/cri/metrics/descriptors';
import { diskUsage, layerSample, mountOf, overlayUpperDir } from '../../src/cri/metrics/fs';
import {
  parseBlkioV1, parseCpuMax, parseIoStat, parseKeyed, parseLimit, parseLimits, parseMountInfo, parseNetDev, parsePressure, parseProcCgroup, parseStatusThreads,
  weightToShares,
} from '../../src/cri/metrics/parse';
import { processSample } from '../../src/cri/metrics/proc';
import type { CgroupSample } from '../../src/cri/metrics/sample';
import type { ContainerRecord, SandboxRecord } from '../../src/cri/store';
import type { Metric } from '../../src/cri/types';
import { cgroupMounts, cgroupV1, cgroupV2, describeIf, isRoot, requireHost } from '../helpers/host';
import { cleanupTempDirs, tempDir } from '../image/helpers';

afterAll(() => cleanupTempDirs());

// critest v1.37 (pkg/validate/pod.go): the names it expects, those no runtime has yet, those a host may lack.
const EXPECTED = `container_blkio_device_usage_total container_cpu_cfs_periods_total container_cpu_cfs_throttled_periods_total
container_cpu_cfs_throttled_seconds_total container_cpu_system_seconds_total container_cpu_usage_seconds_total container_cpu_user_seconds_total
container_file_descriptors container_fs_inodes_free container_fs_inodes_total container_fs_limit_bytes container_fs_reads_bytes_total
container_fs_reads_total container_fs_usage_bytes container_fs_writes_bytes_total container_fs_writes_total container_hugetlb_max_usage_bytes
container_hugetlb_usage_bytes container_last_seen container_memory_cache container_memory_failcnt container_memory_failures_total
container_memory_kernel_usage container_memory_mapped_file container_memory_max_usage_bytes container_memory_rss container_memory_swap
container_memory_usage_bytes container_memory_working_set_bytes container_network_receive_bytes_total container_network_receive_errors_total
container_network_receive_packets_dropped_total container_network_receive_packets_total container_network_transmit_bytes_total
container_network_transmit_errors_total container_network_transmit_packets_dropped_total container_network_transmit_packets_total
container_oom_events_total container_pressure_cpu_stalled_seconds_total container_pressure_cpu_waiting_seconds_total
container_pressure_io_stalled_seconds_total container_pressure_io_waiting_seconds_total container_pressure_memory_stalled_seconds_total
container_pressure_memory_waiting_seconds_total container_processes container_sockets container_spec_cpu_period container_spec_cpu_quota
container_spec_cpu_shares container_spec_memory_limit_bytes container_spec_memory_reservation_limit_bytes container_spec_memory_swap_limit_bytes
container_start_time_seconds container_threads container_threads_max container_ulimits_soft`.split(/\s+/);
const UNIMPLEMENTED = new Set(`container_hugetlb_max_usage_bytes container_hugetlb_usage_bytes container_pressure_cpu_stalled_seconds_total
container_pressure_cpu_waiting_seconds_total container_pressure_io_stalled_seconds_total container_pressure_io_waiting_seconds_total
container_pressure_memory_stalled_seconds_total container_pressure_memory_waiting_seconds_total container_spec_cpu_quota
container_spec_memory_reservation_limit_bytes container_ulimits_soft`.split(/\s+/));
const OPTIONAL = new Set(['container_blkio_device_usage_total', 'container_fs_reads_bytes_total', 'container_fs_reads_total', 'container_fs_writes_bytes_total', 'container_fs_writes_total']);
const NETWORK = EXPECTED.filter((n) => n.startsWith('container_network_'));

/** critest's testPodSandboxMetrics, on a list of metrics: the names missing and those whose label count is off. */
function critestCheck(metrics: Metric[], mustHave: string[]): { missing: string[]; mismatched: string[] } {
  const found = new Map<string, string[]>();
  for (const m of metrics) if (!found.get(m.name)?.length) found.set(m.name, m.labelValues);
  const missing = mustHave.filter((n) => !found.get(n)?.length);
  const mismatched = metricDescriptors().filter((d) => found.has(d.name) && found.get(d.name)!.length !== d.labelKeys.length).map((d) => d.name);
  return { missing, mismatched };
}

// ---------------------------------------------------------------------------------------------- parsers

describe('parsers', () => {
  test('keyed files, limits, cpu.max, weight → shares', () => {
    const m = parseKeyed('cache 4096\ntotal_rss 18446744073709551615\nbad x\n\n');
    expect(m.get('cache')).toBe(4096n);
    expect(m.get('total_rss')).toBe(18446744073709551615n); // beyond 2^53: kept exact
    expect(m.has('bad')).toBe(false);
    expect(parseLimit('9223372036854771712\n')).toBeNull(); // v1's "unlimited"
    expect(parseLimit('max\n')).toBeNull();
    expect(parseLimit('-1\n')).toBeNull();
    expect(parseLimit('67108864\n')).toBe(67108864n);
    expect(parseLimit('')).toBeUndefined();
    expect(parseCpuMax('20000 100000\n')).toEqual({ quota: 20000n, period: 100000n });
    expect(parseCpuMax('max 100000\n')).toEqual({ quota: null, period: 100000n });
    expect(weightToShares(1n)).toBe(2n);
    expect(weightToShares(10000n)).toBe(262144n);
    expect(weightToShares(39n)).toBe(998n); // what 1024 shares become on v2 and back
  });

  test('/proc/<pid>/cgroup and the cgroup mounts → directories (hybrid, co-mounted, nested root)', () => {
    const mi = parseMountInfo(`31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`);
    const procCg = '9:name=systemd:/x\n4:memory:/docker/abc/pods/c1\n2:cpu,cpuacct:/pods/c1\n3:pids:/pods/c1\n0::/pods/c1\n';
    expect(parseProcCgroup(procCg).get('cpu,cpuacct')).toBe('/pods/c1');
    const d = cgroupDirs(procCg, mi);
    expect(d.v1.get('cpu')).toBe('/sys/fs/cgroup/cpu,cpuacct/pods/c1');
    expect(d.v1.get('cpuacct')).toBe('/sys/fs/cgroup/cpu,cpuacct/pods/c1');
    expect(d.v1.get('memory')).toBe('/sys/fs/cgroup/memory/pods/c1'); // below the mount's root /docker/abc
    expect(d.v1.get('name=systemd')).toBe('/sys/fs/cgroup/systemd/x');
    expect(d.v1.has('pids')).toBe(false); // not mounted here
    expect(d.unified).toBe('/sys/fs/cgroup/unified/pods/c1');
    // A cgroup outside what the mount shows cannot be read.
    expect(cgroupDirs('4:memory:/elsewhere\n', mi).v1.has('memory')).toBe(false);
  });

  test('/proc/<pid>/net/dev, status, limits', () => {
    const dev = parseNetDev(`Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1200      12    0    0    0     0          0         0     1200      12    0    0    0     0       0          0
  eth0: 9876543210  5432    1    2    0     0          0         3 123456    789    4    5    0     0       0          0
`);
    expect(dev.map((d) => d.iface)).toEqual(['lo', 'eth0']);
    expect(dev[1]).toEqual({ iface: 'eth0', rxBytes: 9876543210n, rxPackets: 5432n, rxErrors: 1n, rxDropped: 2n, txBytes: 123456n, txPackets: 789n, txErrors: 4n, txDropped: 5n });
    expect(parseStatusThreads('Name:\tsleep\nState:\tS (sleeping)\nThreads:\t3\nSigQ:\t0/1\n')).toBe(3);
    const limits = parseLimits(`Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 1048576              files
Max processes             63471                63471                processes
`);
    expect(limits.get('max_open_files')).toBe(1024n);
    expect(limits.get('max_processes')).toBe(63471n);
    expect(limits.get('max_cpu_time')).toBeNull();
  });

  test('PSI, v1 blkio, v2 io.stat', () => {
    expect(parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n')).toEqual({ some: 2500000n, full: 1000n });
    expect(parsePressure(undefined)).toBeUndefined();
    const bytes = parseBlkioV1('8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n');
    const ops = parseBlkioV1('8:0 Read 1\n8:0 Write 2\n8:0 Total 3\nTotal 3\n');
    const [d] = mergeBlkio(bytes, ops);
    expect(d).toMatchObject({ major: 8, minor: 0, readBytes: 4096n, writeBytes: 8192n, reads: 1n, writes: 2n });
    expect([...d.bytesByOp.keys()]).toEqual(['Read', 'Write', 'Sync', 'Async', 'Discard', 'Total']);
    expect(parseIoStat('253:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n')).toEqual([{ major: 253, minor: 0, rbytes: 10n, wbytes: 20n, rios: 1n, wios: 2n }]);
  });

  test('overlay upperdir (escaped) and the mount holding a path', () => {
    const mi = parseMountInfo(`22 1 8:1 / / rw - ext4 /dev/vda1 rw
90 22 0:50 / /var/lib/x rw - tmpfs tmpfs rw
91 22 0:51 / /run/berth/cri/containers/c1/rootfs rw - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/var/lib/x/snap\\0541/upper,workdir=/var/lib/x/snap\\0541/work
`);
    expect(overlayUpperDir(mi, '/run/berth/cri/containers/c1/rootfs')).toBe('/var/lib/x/snap,1/upper');
    expect(overlayUpperDir(mi, '/elsewhere')).toBeUndefined();
    expect(mountOf(mi, '/var/lib/x/snap,1/upper')?.source).toBe('tmpfs');
    expect(mountOf(mi, '/var/lib/xy')?.source).toBe('/dev/vda1');
  });
});

// ---------------------------------------------------------------------------------- readers on fake trees

function fakeDir(files: Record<string, string>): string {
  const d = tempDir('berth-metrics-fake-');
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(d, f), text);
  return d;
}

describe('readers on cgroup file formats', () => {
  test('v1: cpu, cpuacct, memory (hierarchical totals, memsw → swap), pids, unlimited limits as 0', async () => {
    const cpuacct = fakeDir({ 'cpuacct.usage': '2500000000\n', 'cpuacct.usage_user': '2000000000\n', 'cpuacct.usage_sys': '500000000\n' });
    const cpu = fakeDir({ 'cpu.stat': 'nr_periods 10\nnr_throttled 4\nthrottled_time 3000000000\n', 'cpu.shares': '1024\n', 'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n' });
    const memory = fakeDir({
      'memory.usage_in_bytes': '10485760\n', 'memory.max_usage_in_bytes': '20971520\n', 'memory.failcnt': '3\n', 'memory.kmem.usage_in_bytes': '65536\n',
      'memory.memsw.usage_in_bytes': '11534336\n', 'memory.limit_in_bytes': '67108864\n', 'memory.soft_limit_in_bytes': '9223372036854771712\n',
      'memory.memsw.limit_in_bytes': '67108864\n', 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
      'memory.stat': 'cache 1\nrss 2\npgfault 100\npgmajfault 1\ntotal_cache 4194304\ntotal_rss 2097152\ntotal_mapped_file 8192\ntotal_inactive_file 1048576\ntotal_active_file 3145728\ntotal_pgfault 150\ntotal_pgmajfault 2\n',
    });
    const pids = fakeDir({ 'pids.current': '3\n', 'pids.max': 'max\n' });
    const s = await readCgroupV1(new Map([['cpu', cpu], ['cpuacct', cpuacct], ['memory', memory], ['pids', pids]]));
    expect(s.cpu).toEqual({ usageNs: 2500000000n, userNs: 2000000000n, systemNs: 500000000n, periods: 10n, throttledPeriods: 4n, throttledNs: 3000000000n });
    expect(s.memory).toMatchObject({
      usage: 10485760n, workingSet: 10485760n - 1048576n, rss: 2097152n, cache: 4194304n, mappedFile: 8192n, maxUsage: 20971520n, failcnt: 3n, kernel: 65536n,
      swap: 1048576n, oomKills: 2n, pgfault: { container: 100n, hierarchy: 150n }, pgmajfault: { container: 1n, hierarchy: 2n },
    });
    expect(s.pids).toEqual({ current: 3n, max: null });
    expect(s.spec).toEqual({ cpuShares: 1024n, cpuPeriod: 100000n, cpuQuota: 0n, memoryLimit: 67108864n, memoryReservation: 0n, swapLimit: 67108864n });
    expect(s.io).toBeUndefined(); // no blkio hierarchy given: left out
  });

  test('v1: tick-only cpuacct.stat; a missing memory controller is absent, not zero', async () => {
    const cpuacct = fakeDir({ 'cpuacct.usage': '10\n', 'cpuacct.stat': 'user 150\nsystem 50\n' });
    const s = await readCgroupV1(new Map([['cpuacct', cpuacct]]));
    expect(s.cpu).toEqual({ usageNs: 10n, userNs: 1500000000n, systemNs: 500000000n });
    expect(s.memory).toBeUndefined();
    expect(s.spec).toEqual({});
  });

  test('v2: cpu.stat in µs, memory.stat names, memory.events, swap, cpu.max and weight, io.stat, PSI', async () => {
    const dir = fakeDir({
      'cpu.stat': 'usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 7\nnr_throttled 1\nthrottled_usec 500000\n',
      'cpu.weight': '100\n', 'cpu.max': '20000 100000\n',
      'memory.current': '8388608\n', 'memory.peak': '9437184\n', 'memory.swap.current': '4096\n', 'memory.max': '67108864\n', 'memory.min': '0\n', 'memory.swap.max': '0\n',
      'memory.events': 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n',
      'memory.stat': 'anon 2097152\nfile 4194304\nkernel 131072\nfile_mapped 4096\nactive_file 1048576\ninactive_file 2097152\npgfault 42\npgmajfault 3\n',
      'pids.current': '2\n', 'pids.max': '100\n',
      'io.stat': '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n',
      'cpu.pressure': 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
    });
    const s = await readCgroupV2(dir);
    expect(s.cpu).toEqual({ usageNs: 3000000000n, userNs: 2000000000n, systemNs: 1000000000n, periods: 7n, throttledPeriods: 1n, throttledNs: 500000000n });
    expect(s.memory).toMatchObject({
      usage: 8388608n, workingSet: 8388608n - 2097152n, rss: 2097152n, cache: 4194304n, kernel: 131072n, mappedFile: 4096n, maxUsage: 9437184n, failcnt: 5n,
      swap: 4096n, oomKills: 1n, pgfault: { container: 42n, hierarchy: 42n },
    });
    expect(s.pids).toEqual({ current: 2n, max: 100n });
    expect(s.spec).toEqual({ cpuShares: weightToShares(100n), cpuPeriod: 100000n, cpuQuota: 20000n, memoryLimit: 67108864n, memoryReservation: 0n, swapLimit: 67108864n });
    expect(s.io?.[0]).toMatchObject({ major: 8, minor: 0, readBytes: 4096n, writeBytes: 8192n, reads: 1n, writes: 2n });
    expect(await readPressure(dir)).toEqual({ cpu: { some: 1500000n, full: 0n }, memory: undefined, io: undefined });
  });

  test('v2 without the cpu and memory controllers: core usage only, no throttling, no memory', async () => {
    const s = await readCgroupV2(fakeDir({ 'cpu.stat': 'usage_usec 10\nuser_usec 6\nsystem_usec 4\n' }));
    expect(s.cpu).toEqual({ usageNs: 10000n, userNs: 6000n, systemNs: 4000n });
    expect(s.memory).toBeUndefined();
    expect(s.pids).toBeUndefined();
  });

  test('du of a directory: allocated blocks, hard links once, inodes', async () => {
    const d = tempDir('berth-metrics-du-');
    fs.writeFileSync(path.join(d, 'a'), Buffer.alloc(16384, 1));
    fs.linkSync(path.join(d, 'a'), path.join(d, 'b'));
    fs.mkdirSync(path.join(d, 'sub'));
    fs.writeFileSync(path.join(d, 'sub', 'c'), 'x');
    const u = await diskUsage(d);
    expect(u.inodes).toBe(4n); // d, a (b is the same inode), sub, c
    expect(u.bytes).toBeGreaterThanOrEqual(16384n);
    expect(u.bytes).toBeLessThan(2n * 16384n + 65536n);
  });
});

// --------------------------------------------------------------------------------- descriptors, building

const fullSample: CgroupSample = {
  cpu: { usageNs: 5n * 10n ** 9n, userNs: 3n * 10n ** 9n, systemNs: 2n * 10n ** 9n, periods: 1n, throttledPeriods: 0n, throttledNs: 0n },
  memory: {
    usage: 10n, workingSet: 9n, rss: 1n, cache: 1n, mappedFile: 1n, activeFile: 1n, inactiveFile: 1n, maxUsage: 11n, failcnt: 0n, kernel: 1n, swap: 0n, oomKills: 0n,
    pgfault: { container: 1n, hierarchy: 1n }, pgmajfault: { container: 0n, hierarchy: 0n },
  },
  pids: { current: 1n, max: null },
  io: [{ major: 8, minor: 0, bytesByOp: new Map([['Read', 1n], ['Write', 2n]]), readBytes: 1n, writeBytes: 2n, reads: 1n, writes: 1n }],
  pressure: { cpu: { some: 1n, full: 0n }, memory: { some: 0n, full: 0n }, io: { some: 0n, full: 0n } },
  hugetlb: [{ pagesize: '2MB', usage: 0n, maxUsage: 0n }],
  spec: { cpuShares: 1024n, cpuPeriod: 100000n, cpuQuota: 20000n, memoryLimit: 64n, memoryReservation: 0n, swapLimit: 64n },
};

describe('descriptors and metrics', () => {
  test('every name critest expects is described (help, label keys), unimplemented ones included; names unique', async () => {
    const descs = metricDescriptors();
    const names = descs.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    expect(EXPECTED.filter((n) => !names.includes(n))).toEqual([]);
    for (const d of descs) {
      expect(d.help).not.toBe('');
      expect(d.labelKeys.slice(0, BASE_LABELS.length)).toEqual([...BASE_LABELS]);
    }
    expect(descs.find((d) => d.name === 'container_network_receive_bytes_total')?.labelKeys).toContain('interface');
    expect(descs.find((d) => d.name === 'container_fs_usage_bytes')?.labelKeys).toContain('device');
  });

  test('a full sample yields every described metric with its descriptor\'s label count, whole seconds, types', () => {
    const out = new MetricList(['c', 'id1', 'img', 'c_pod_0', 'ns', 'pod'], '1700000000000000000');
    addCgroupMetrics(out, fullSample);
    addIoMetrics(out, fullSample, () => '/dev/sda');
    addProcessMetrics(out, { processes: 1, threads: 2, fds: 3, sockets: 1 }, new Map([['max_open_files', 1024n], ['max_cpu_time', null]]));
    addLayerMetrics(out, { device: '/dev/vda1', usageBytes: 4096n, inodesUsed: 3n, limitBytes: 10n ** 9n, inodesTotal: 1000n, inodesFree: 900n });
    addNetworkMetrics(out, [{ iface: 'eth0', rxBytes: 1n, rxPackets: 1n, rxErrors: 0n, rxDropped: 0n, txBytes: 1n, txPackets: 1n, txErrors: 0n, txDropped: 0n }]);
    out.add('container_last_seen', 1n);
    out.add('container_start_time_seconds', 1n);
    const { missing, mismatched } = critestCheck(out.items, metricDescriptors().map((d) => d.name));
    expect(missing).toEqual([]);
    expect(mismatched).toEqual([]);
    const one = (n: string): Metric => out.items.find((m) => m.name === n)!;
    expect(one('container_cpu_usage_seconds_total')).toMatchObject({ metricType: 'COUNTER', value: { value: '5' }, timestamp: '1700000000000000000' });
    expect(one('container_memory_usage_bytes')).toMatchObject({ metricType: 'GAUGE', value: { value: '10' } });
    expect(one('container_threads_max').value).toEqual({ value: '0' }); // no pids limit
    expect(out.items.filter((m) => m.name === 'container_ulimits_soft').map((m) => m.labelValues.at(-1))).toEqual(['max_open_files']);
    expect(out.items.filter((m) => m.name === 'container_memory_failures_total').map((m) => m.labelValues.slice(-2).join('/'))).toEqual(['pgfault/container', 'pgfault/hierarchy', 'pgmajfault/container', 'pgmajfault/hierarchy']);
  });

  test('what the host does not provide is left out; a wrong label count is a programming error', () => {
    const out = new MetricList(['', 'p', '', 'n', 'ns', 'pod'], '1');
    addCgroupMetrics(out, { hugetlb: [], spec: {}, cpu: { usageNs: 10n ** 9n } });
    expect(out.items.map((m) => m.name)).toEqual(['container_cpu_usage_seconds_total']);
    expect(() => out.add('container_fs_usage_bytes', 1n)).toThrow(/extra labels/);
    expect(() => new MetricList(['a'], '1')).toThrow(/base label/);
  });

  test('processes of this very process: threads and descriptors counted', async () => {
    const p = await processSample([process.pid, 999999999]);
    expect(p.processes).toBe(1); // the second does not exist
    expect(p.threads).toBeGreaterThanOrEqual(1);
    expect(p.fds).toBeGreaterThanOrEqual(3);
  });
});

// ------------------------------------------------------------------------------------ a real cgroup here

const TOP = `berth-metrics-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'];
const made: string[] = [];
let child: ChildProcess | undefined;

async function killChild(): Promise<void> {
  const c = child;
  child = undefined;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGKILL');
  await exited;
}

async function removeCgroups(): Promise<void> {
  for (const d of made.splice(0).reverse()) {
    for (let i = 0; i < 50 && fs.existsSync(d); i++) {
      try {
        fs.rmdirSync(d);
      } catch {
        await new Promise((r) => setTimeout(r, 50)); // EBUSY until the killed process is gone
      }
    }
  }
}

const v1Present = cgroupV1(...V1_CONTROLLERS);
const v2Present = cgroupV2();

describeIf([isRoot()])('a real cgroup of this host with a busybox sleep in it', () => {
  let dirsByKey: Map<string, string>;
  let unifiedDir: string | undefined;
  let v2Controllers: string[] = [];

  beforeAll(async () => {
    requireHost(isRoot());
    const mounts = cgroupMounts();
    dirsByKey = new Map();
    if (v1Present.present) {
      for (const c of V1_CONTROLLERS) {
        const d = path.join(mounts.v1.get(c)!, TOP);
        if (!made.includes(d)) {
          fs.mkdirSync(d);
          made.push(d);
        }
        dirsByKey.set(c, d);
      }
    }
    if (mounts.v2) {
      unifiedDir = path.join(mounts.v2.mountPoint, TOP);
      fs.mkdirSync(unifiedDir);
      made.push(unifiedDir);
      v2Controllers = fs.readFileSync(path.join(unifiedDir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
    }
    // Once inside the cgroups it spins a little and writes 4 MiB to a file (CPU time and page cache charged
    // there: a bare sleep uses too little for the kernel's batched memory counters), then becomes a busybox sleep.
    const script = 'read go; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; /bin/busybox dd if=/dev/zero of="$0" bs=65536 count=64 2>/dev/null; exec /bin/busybox sleep 600';
    child = spawn('/bin/busybox', ['sh', '-c', script, path.join(tempDir('berth-metrics-cache-'), 'data')], { stdio: ['pipe', 'ignore', 'ignore'] });
    const pid = child.pid!;
    for (const d of [...new Set(dirsByKey.values()), ...(unifiedDir ? [unifiedDir] : [])]) fs.writeFileSync(path.join(d, 'cgroup.procs'), String(pid));
    child.stdin!.write('go\n');
    const applet = (): string => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1];
    for (let i = 0; i < 400 && applet() !== 'sleep'; i++) await new Promise((r) => setTimeout(r, 25));
    expect(applet()).toBe('sleep');
  });

  afterAll(async () => {
    await killChild();
    await removeCgroups();
  });

  test('its cgroups are found from /proc/<pid>/cgroup', async () => {
    const dirs = (await cgroupDirsOfPid(child!.pid!))!;
    for (const [c, d] of dirsByKey) expect(dirs.v1.get(c)).toBe(d);
    expect(dirs.unified).toBe(unifiedDir);
    expect(await cgroupDirsOfPid(999999999)).toBeUndefined();
  });

  (v1Present.present ? test : test.skip)('v1: usage non-zero, limits as written, the process listed', async () => {
    const mem = dirsByKey.get('memory')!;
    fs.writeFileSync(path.join(mem, 'memory.limit_in_bytes'), String(64 << 20));
    const memsw = fs.existsSync(path.join(mem, 'memory.memsw.limit_in_bytes'));
    if (memsw) fs.writeFileSync(path.join(mem, 'memory.memsw.limit_in_bytes'), String(64 << 20));
    fs.writeFileSync(path.join(dirsByKey.get('cpu')!, 'cpu.cfs_quota_us'), '20000');
    fs.writeFileSync(path.join(dirsByKey.get('cpu')!, 'cpu.shares'), '512');
    fs.writeFileSync(path.join(dirsByKey.get('pids')!, 'pids.max'), '50');
    const s = await readCgroupV1(dirsByKey);
    expect(s.cpu!.usageNs!).toBeGreaterThan(0n);
    expect(s.cpu!.userNs! + s.cpu!.systemNs!).toBeGreaterThan(0n);
    expect(s.cpu!.periods).toBeDefined();
    expect(s.memory!.usage).toBeGreaterThan(1n << 20n);
    expect(s.memory!.workingSet).toBeLessThanOrEqual(s.memory!.usage);
    expect(s.memory!.rss).toBeDefined();
    expect(s.memory!.maxUsage!).toBeGreaterThanOrEqual(s.memory!.usage);
    expect(s.memory!.oomKills).toBe(0n);
    expect(s.pids).toEqual({ current: 1n, max: 50n });
    expect(s.spec).toMatchObject({ cpuShares: 512n, cpuPeriod: 100000n, cpuQuota: 20000n, memoryLimit: BigInt(64 << 20), memoryReservation: 0n });
    if (memsw) expect(s.spec.swapLimit).toBe(BigInt(64 << 20));
    expect(await cgroupPids(dirsByKey.get('pids')!)).toEqual([child!.pid]);
  });

  (v2Present.present ? test : test.skip)('cgroup2: core cpu usage, each controller\'s files when enabled there, PSI when the kernel has it', async () => {
    const s = await readCgroupV2(unifiedDir!);
    expect(s.cpu!.usageNs!).toBeGreaterThan(0n);
    expect(s.memory === undefined).toBe(!v2Controllers.includes('memory'));
    if (s.memory) expect(s.memory.usage).toBeGreaterThan(0n);
    expect(s.pids === undefined).toBe(!v2Controllers.includes('pids'));
    const psi = await readPressure(unifiedDir!);
    expect(psi === undefined).toBe(!fs.existsSync(path.join(unifiedDir!, 'cpu.pressure')));
    expect(await cgroupPids(unifiedDir!)).toEqual([child!.pid]);
  });

  test('as a container: every metric critest requires is there (network from its netns), label counts as described', async () => {
    const bundle = tempDir('berth-metrics-bundle-');
    fs.mkdirSync(path.join(bundle, 'rootfs'));
    const layer = tempDir('berth-metrics-layer-');
    fs.writeFileSync(path.join(layer, 'data'), Buffer.alloc(65536, 7));
    const pid = child!.pid!;
    const sandbox = {
      id: 'a'.repeat(64), name: 'pod_ns_uid_0', state: 'ready', hostNetwork: false, config: { metadata: { name: 'pod', namespace: 'ns', uid: 'uid', attempt: 0 } },
    } as unknown as SandboxRecord;
    const rec = {
      id: 'b'.repeat(64), sandboxId: sandbox.id, name: 'app_pod_ns_uid_0_0', config: { metadata: { name: 'app', attempt: 0 } }, imageName: 'example/pod:v1',
      state: 'running', pid, bundle, startedAt: String(BigInt(Date.now() - 5000) * 1_000_000n),
    } as unknown as ContainerRecord;
    const opts = { writableLayerDir: (id: string) => (id === rec.id ? layer : undefined) };
    const pod = await collectPod(sandbox, [rec, { ...rec, id: 'c'.repeat(64), state: 'exited' }], opts);
    expect(pod.podSandboxId).toBe(sandbox.id);
    expect(pod.containerMetrics.map((c) => c.containerId)).toEqual([rec.id]); // the exited one has none
    const all = [...pod.metrics, ...pod.containerMetrics[0].metrics];
    const hostHasInterfaces = fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2).some((l) => l.includes(':') && !/^\s*lo:/.test(l));
    const required = EXPECTED.filter((n) => !UNIMPLEMENTED.has(n) && !OPTIONAL.has(n) && (hostHasInterfaces || !NETWORK.includes(n)));
    const { missing, mismatched } = critestCheck(all, required);
    expect(missing).toEqual([]);
    expect(mismatched).toEqual([]);
    const value = (n: string): bigint => BigInt(all.find((m) => m.name === n)!.value!.value);
    const labels = (n: string): string[] => all.find((m) => m.name === n)!.labelValues;
    expect(labels('container_memory_usage_bytes')).toEqual(['app', rec.id, 'example/pod:v1', rec.name, 'ns', 'pod']);
    if (hostHasInterfaces) expect(labels('container_network_receive_bytes_total').slice(0, 6)).toEqual(['', sandbox.id, '', sandbox.name, 'ns', 'pod']);
    expect(value('container_memory_usage_bytes')).toBeGreaterThan(1n << 20n);
    expect(value('container_processes')).toBe(1n);
    expect(value('container_threads')).toBe(1n);
    expect(value('container_file_descriptors')).toBeGreaterThanOrEqual(1n);
    expect(value('container_fs_usage_bytes')).toBeGreaterThanOrEqual(65536n);
    expect(value('container_fs_limit_bytes')).toBeGreaterThan(value('container_fs_usage_bytes'));
    expect(value('container_fs_inodes_total')).toBeGreaterThanOrEqual(value('container_fs_inodes_free'));
    const now = BigInt(Math.floor(Date.now() / 1000));
    expect(now - value('container_last_seen')).toBeLessThanOrEqual(2n);
    expect(now - value('container_start_time_seconds')).toBeGreaterThanOrEqual(4n);
    // Without a layer callback the rootfs itself (not an overlay here) is measured.
    expect((await layerSample(path.join(bundle, 'rootfs'), undefined))?.usageBytes).toBeGreaterThan(0n);
  });

  test('a container whose process is gone yields nothing; the whole read goes through readCgroup', async () => {
    const dirs = (await cgroupDirsOfPid(child!.pid!))!;
    const s = await readCgroup(dirs);
    expect(s.procsDir).toBeDefined();
    const gone = { id: 'd'.repeat(64), pid: 999999999, bundle: '/nonexistent', state: 'running', config: {}, startedAt: '0' } as unknown as ContainerRecord;
    expect(await collectContainer(gone, { id: 'e', config: {} } as unknown as SandboxRecord, {})).toBeUndefined();
  });
});
