/**
 * Samples → CRI Metric messages. Values are unsigned integers on the wire, so seconds are whole seconds (as
 * containerd reports them); a value the host did not provide is left out, not sent as 0.
 */
import type { Metric } from '../types';
import { BASE_LABELS, metricDef, type MetricName } from './descriptors';
import type { LayerSample } from './fs';
import type { NetDevStats } from './parse';
import type { ProcessSample } from './proc';
import type { CgroupSample } from './sample';

const NS = 1_000_000_000n;
const US = 1_000_000n;

/** Metrics sharing one set of base label values and one timestamp. */
export class MetricList {
  readonly items: Metric[] = [];

  constructor(private readonly base: readonly string[], private readonly timestampNs: string) {
    if (base.length !== BASE_LABELS.length) throw new Error(`metrics: ${base.length} base label values for ${BASE_LABELS.length} keys`);
  }

  add(name: MetricName, value: bigint | number | undefined, ...extra: string[]): void {
    if (value === undefined) return;
    const def = metricDef(name);
    if (extra.length !== def.extraLabels.length) throw new Error(`metrics: ${name} takes ${def.extraLabels.length} extra labels, got ${extra.length}`);
    const v = BigInt(value);
    this.items.push({ name, timestamp: this.timestampNs, metricType: def.type, labelValues: [...this.base, ...extra], value: { value: (v > 0n ? v : 0n).toString() } });
  }
}

const seconds = (ns: bigint | undefined): bigint | undefined => (ns === undefined ? undefined : ns / NS);
const usSeconds = (us: bigint | undefined): bigint | undefined => (us === undefined ? undefined : us / US);

export function addCgroupMetrics(out: MetricList, s: CgroupSample): void {
  const cpu = s.cpu;
  if (cpu) {
    out.add('container_cpu_usage_seconds_total', seconds(cpu.usageNs));
    out.add('container_cpu_user_seconds_total', seconds(cpu.userNs));
    out.add('container_cpu_system_seconds_total', seconds(cpu.systemNs));
    out.add('container_cpu_cfs_periods_total', cpu.periods);
    out.add('container_cpu_cfs_throttled_periods_total', cpu.throttledPeriods);
    out.add('container_cpu_cfs_throttled_seconds_total', seconds(cpu.throttledNs));
  }
  const m = s.memory;
  if (m) {
    out.add('container_memory_usage_bytes', m.usage);
    out.add('container_memory_working_set_bytes', m.workingSet);
    out.add('container_memory_rss', m.rss);
    out.add('container_memory_cache', m.cache);
    out.add('container_memory_mapped_file', m.mappedFile);
    out.add('container_memory_swap', m.swap);
    out.add('container_memory_kernel_usage', m.kernel);
    out.add('container_memory_max_usage_bytes', m.maxUsage);
    out.add('container_memory_failcnt', m.failcnt);
    out.add('container_memory_total_active_file_bytes', m.activeFile);
    out.add('container_memory_total_inactive_file_bytes', m.inactiveFile);
    out.add('container_oom_events_total', m.oomKills);
    for (const [type, f] of [['pgfault', m.pgfault], ['pgmajfault', m.pgmajfault]] as const) {
      if (!f) continue;
      out.add('container_memory_failures_total', f.container, type, 'container');
      out.add('container_memory_failures_total', f.hierarchy, type, 'hierarchy');
    }
  }
  for (const h of s.hugetlb) {
    out.add('container_hugetlb_usage_bytes', h.usage, h.pagesize);
    out.add('container_hugetlb_max_usage_bytes', h.maxUsage, h.pagesize);
  }
  const p = s.pressure;
  if (p) {
    out.add('container_pressure_cpu_waiting_seconds_total', usSeconds(p.cpu?.some));
    out.add('container_pressure_cpu_stalled_seconds_total', usSeconds(p.cpu?.full));
    out.add('container_pressure_memory_waiting_seconds_total', usSeconds(p.memory?.some));
    out.add('container_pressure_memory_stalled_seconds_total', usSeconds(p.memory?.full));
    out.add('container_pressure_io_waiting_seconds_total', usSeconds(p.io?.some));
    out.add('container_pressure_io_stalled_seconds_total', usSeconds(p.io?.full));
  }
  if (s.pids) out.add('container_threads_max', s.pids.max ?? 0n);
  out.add('container_spec_cpu_shares', s.spec.cpuShares);
  out.add('container_spec_cpu_period', s.spec.cpuPeriod);
  out.add('container_spec_cpu_quota', s.spec.cpuQuota);
  out.add('container_spec_memory_limit_bytes', s.spec.memoryLimit);
  out.add('container_spec_memory_reservation_limit_bytes', s.spec.memoryReservation);
  out.add('container_spec_memory_swap_limit_bytes', s.spec.swapLimit);
}

/** Block I/O per device; `deviceName` maps major:minor to the label cadvisor uses (/dev/vda). */
export function addIoMetrics(out: MetricList, s: CgroupSample, deviceName: (major: number, minor: number) => string): void {
  for (const d of s.io ?? []) {
    const dev = deviceName(d.major, d.minor);
    out.add('container_fs_reads_bytes_total', d.readBytes, dev);
    out.add('container_fs_writes_bytes_total', d.writeBytes, dev);
    out.add('container_fs_reads_total', d.reads, dev);
    out.add('container_fs_writes_total', d.writes, dev);
    for (const [op, bytes] of d.bytesByOp) out.add('container_blkio_device_usage_total', bytes, dev, String(d.major), String(d.minor), op);
  }
}

export function addProcessMetrics(out: MetricList, p: ProcessSample, limits: ReadonlyMap<string, bigint | null> | undefined): void {
  out.add('container_processes', p.processes);
  out.add('container_threads', p.threads);
  out.add('container_file_descriptors', p.fds);
  out.add('container_sockets', p.sockets);
  for (const [name, soft] of limits ?? []) if (soft !== null) out.add('container_ulimits_soft', soft, name);
}

export function addLayerMetrics(out: MetricList, l: LayerSample): void {
  out.add('container_fs_usage_bytes', l.usageBytes, l.device);
  out.add('container_fs_limit_bytes', l.limitBytes, l.device);
  out.add('container_fs_inodes_total', l.inodesTotal, l.device);
  out.add('container_fs_inodes_free', l.inodesFree, l.device);
}

export function addNetworkMetrics(out: MetricList, devs: readonly NetDevStats[]): void {
  for (const d of devs) {
    out.add('container_network_receive_bytes_total', d.rxBytes, d.iface);
    out.add('container_network_receive_packets_total', d.rxPackets, d.iface);
    out.add('container_network_receive_packets_dropped_total', d.rxDropped, d.iface);
    out.add('container_network_receive_errors_total', d.rxErrors, d.iface);
    out.add('container_network_transmit_bytes_total', d.txBytes, d.iface);
    out.add('container_network_transmit_packets_total', d.txPackets, d.iface);
    out.add('container_network_transmit_packets_dropped_total', d.txDropped, d.iface);
    out.add('container_network_transmit_errors_total', d.txErrors, d.iface);
  }
}
