/**
 * Pure parsers for the kernel files the CRI metrics come from: cgroup v1/v2 control files, /proc/<pid>/cgroup,
 * /proc/self/mountinfo, /proc/<pid>/net/dev, /proc/<pid>/status and /proc/<pid>/limits. Text in, values out;
 * nothing here touches the file system. Counters are bigint: cgroup counters (nanoseconds, bytes) outgrow 2^53.
 */

/** A decimal integer as bigint; undefined for anything else ("max", "", garbage). */
export function toBig(s: string | undefined): bigint | undefined {
  const t = s?.trim();
  return t && /^-?\d+$/.test(t) ? BigInt(t) : undefined;
}

/** `key value` lines (memory.stat, cpu.stat, cpuacct.stat, memory.events, memory.oom_control). */
export function parseKeyed(text: string | undefined): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    const n = toBig(v);
    if (k && n !== undefined) out.set(k, n);
  }
  return out;
}

/** v1 limits at or above 2^62 are the kernel's "unlimited" (PAGE_COUNTER_MAX pages); v2 says "max". */
const UNLIMITED = 1n << 62n;

/** A limit file: its value, or null when unlimited ("max", -1, the v1 sentinel); undefined when unparsable. */
export function parseLimit(text: string | undefined): bigint | null | undefined {
  const t = (text ?? '').trim().split(/\s+/)[0];
  if (t === 'max' || t === '-1') return null;
  const n = toBig(t);
  if (n === undefined) return undefined;
  return n >= UNLIMITED ? null : n;
}

/** v2 cpu.max: "<quota|max> <period>". */
export function parseCpuMax(text: string | undefined): { quota: bigint | null; period: bigint } | undefined {
  const [q, p] = (text ?? '').trim().split(/\s+/);
  const period = toBig(p);
  if (period === undefined) return undefined;
  return { quota: q === 'max' ? null : (toBig(q) ?? null), period };
}

/** cgroup v2 cpu.weight (1–10000) back to v1 cpu.shares (2–262144), the inverse of the OCI runtimes' mapping. */
export function weightToShares(weight: bigint): bigint {
  return 2n + ((weight - 1n) * 262142n) / 9999n;
}

/** /proc/<pid>/cgroup: the controller list ("" for the v2 line, "cpu,cpuacct" when co-mounted) → cgroup path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    out.set(line.slice(a + 1, b), line.slice(b + 1));
  }
  return out;
}

export type { MountInfoEntry as MountEntry } from '../../common/mountinfo';

export { parseMountInfo, unescapeOctal } from '../../common/mountinfo';

export interface NetDevStats {
  iface: string;
  rxBytes: bigint; rxPackets: bigint; rxErrors: bigint; rxDropped: bigint;
  txBytes: bigint; txPackets: bigint; txErrors: bigint; txDropped: bigint;
}

/** /proc/<pid>/net/dev: two header lines, then "iface: 8 receive columns, 8 transmit columns". */
export function parseNetDev(text: string): NetDevStats[] {
  const out: NetDevStats[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    const v = line.slice(colon + 1).trim().split(/\s+/).map((x) => toBig(x));
    if (iface === '' || v.length < 16 || v.some((x) => x === undefined)) continue;
    const n = v as bigint[];
    out.push({ iface, rxBytes: n[0], rxPackets: n[1], rxErrors: n[2], rxDropped: n[3], txBytes: n[8], txPackets: n[9], txErrors: n[10], txDropped: n[11] });
  }
  return out;
}

/** The Threads: line of /proc/<pid>/status. */
export function parseStatusThreads(text: string): number | undefined {
  const m = /^Threads:\s*(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * /proc/<pid>/limits: "Max open files   1024   1048576   files" → max_open_files → soft value (null when
 * unlimited). The columns are padded with spaces, the names contain single ones.
 */
export function parseLimits(text: string): Map<string, bigint | null> {
  const out = new Map<string, bigint | null>();
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s{2,}/);
    if (cols.length < 3) continue;
    const soft = cols[1] === 'unlimited' ? null : toBig(cols[1]);
    if (soft === undefined) continue;
    out.set(cols[0].toLowerCase().replace(/\s+/g, '_'), soft);
  }
  return out;
}

/** One line of PSI (cpu.pressure, memory.pressure, io.pressure): the `total=` microseconds of "some" and "full". */
export function parsePressure(text: string | undefined): { some?: bigint; full?: bigint } | undefined {
  if (text === undefined) return undefined;
  const out: { some?: bigint; full?: bigint } = {};
  for (const line of text.split('\n')) {
    const [kind, ...kvs] = line.trim().split(/\s+/);
    const total = toBig(kvs.find((kv) => kv.startsWith('total='))?.slice(6));
    if (total === undefined) continue;
    if (kind === 'some') out.some = total;
    else if (kind === 'full') out.full = total;
  }
  return out;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  /** The kernel's operation names: Read, Write, Sync, Async, Discard, Total. */
  op: string;
  value: bigint;
}

/** v1 blkio.*io_service_bytes_recursive / io_serviced_recursive: "8:0 Read 4096" lines (and a "Total" line). */
export function parseBlkioV1(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, op, v] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    const value = toBig(v);
    if (m && op && value !== undefined) out.push({ major: Number(m[1]), minor: Number(m[2]), op, value });
  }
  return out;
}

export interface IoStatEntry {
  major: number;
  minor: number;
  rbytes: bigint; wbytes: bigint; rios: bigint; wios: bigint;
}

/** v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" lines. */
export function parseIoStat(text: string | undefined): IoStatEntry[] {
  const out: IoStatEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...kvs] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const kv = new Map(kvs.map((x) => x.split('=') as [string, string]));
    const get = (k: string): bigint => toBig(kv.get(k)) ?? 0n;
    out.push({ major: Number(m[1]), minor: Number(m[2]), rbytes: get('rbytes'), wbytes: get('wbytes'), rios: get('rios'), wios: get('wios') });
  }
  return out;
}
