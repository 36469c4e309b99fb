/**
 * The metrics berthd reports through ListPodSandboxMetrics, with the names, types and label keys of cadvisor's
 * (what the kubelet's /metrics/cadvisor served before it took them from the CRI). Every metric carries the
 * base labels first, then its own extra ones, in the order listed here; ListMetricDescriptors returns exactly
 * this table, and the kubelet drops any metric whose label count differs from its descriptor's.
 */
import type { MetricDescriptor, MetricTypeName } from '../types';

/** container: the CRI container name; id: the container (or pod sandbox) id; name: the runtime's unique name. */
export const BASE_LABELS = ['container', 'id', 'image', 'name', 'namespace', 'pod'] as const;

type Def = readonly [type: MetricTypeName, help: string, extraLabels: readonly string[]];

const C = 'COUNTER';
const G = 'GAUGE';
const NONE: readonly string[] = [];
const IFACE = ['interface'];
const DEVICE = ['device'];

const DEFS = {
  container_cpu_usage_seconds_total: [C, 'CPU time the container has used, in seconds (user and system).', NONE],
  container_cpu_user_seconds_total: [C, 'CPU time the container has used in user mode, in seconds.', NONE],
  container_cpu_system_seconds_total: [C, 'CPU time the container has used in kernel mode, in seconds.', NONE],
  container_cpu_cfs_periods_total: [C, 'CFS bandwidth enforcement periods that have elapsed.', NONE],
  container_cpu_cfs_throttled_periods_total: [C, 'CFS bandwidth periods in which the container was throttled.', NONE],
  container_cpu_cfs_throttled_seconds_total: [C, 'Time the container spent throttled by its CPU quota, in seconds.', NONE],

  container_memory_usage_bytes: [G, 'Memory charged to the container, page cache included, in bytes.', NONE],
  container_memory_working_set_bytes: [G, 'Memory usage less inactive file pages, in bytes: what the kubelet evicts on.', NONE],
  container_memory_rss: [G, 'Anonymous memory (and swap cache) of the container, in bytes.', NONE],
  container_memory_cache: [G, 'Page cache charged to the container, in bytes.', NONE],
  container_memory_mapped_file: [G, 'Memory-mapped file pages of the container, in bytes.', NONE],
  container_memory_swap: [G, 'Swap the container uses, in bytes.', NONE],
  container_memory_kernel_usage: [G, 'Kernel memory charged to the container (stacks, page tables, slab, sockets), in bytes.', NONE],
  container_memory_max_usage_bytes: [G, 'Highest memory usage recorded for the container, in bytes.', NONE],
  container_memory_failcnt: [C, 'Times the container\'s memory usage reached its limit.', NONE],
  container_memory_failures_total: [C, 'Page faults of the container by type (pgfault, pgmajfault) and scope (container, hierarchy).', ['failure_type', 'scope']],
  container_memory_total_active_file_bytes: [G, 'Active file-backed page cache of the container, in bytes.', NONE],
  container_memory_total_inactive_file_bytes: [G, 'Inactive file-backed page cache of the container, in bytes.', NONE],
  container_oom_events_total: [C, 'Processes of the container killed by the OOM killer.', NONE],

  container_hugetlb_usage_bytes: [G, 'Huge pages the container uses, by page size, in bytes.', ['pagesize']],
  container_hugetlb_max_usage_bytes: [G, 'Highest huge page usage recorded for the container, by page size, in bytes.', ['pagesize']],

  container_pressure_cpu_waiting_seconds_total: [C, 'Time some of the container\'s tasks waited for a CPU (PSI "some"), in seconds.', NONE],
  container_pressure_cpu_stalled_seconds_total: [C, 'Time all of the container\'s tasks were stalled on CPU (PSI "full"), in seconds.', NONE],
  container_pressure_memory_waiting_seconds_total: [C, 'Time some of the container\'s tasks waited for memory (PSI "some"), in seconds.', NONE],
  container_pressure_memory_stalled_seconds_total: [C, 'Time all of the container\'s tasks were stalled on memory (PSI "full"), in seconds.', NONE],
  container_pressure_io_waiting_seconds_total: [C, 'Time some of the container\'s tasks waited for I/O (PSI "some"), in seconds.', NONE],
  container_pressure_io_stalled_seconds_total: [C, 'Time all of the container\'s tasks were stalled on I/O (PSI "full"), in seconds.', NONE],

  container_network_receive_bytes_total: [C, 'Bytes received on the pod\'s interface.', IFACE],
  container_network_receive_packets_total: [C, 'Packets received on the pod\'s interface.', IFACE],
  container_network_receive_packets_dropped_total: [C, 'Received packets dropped on the pod\'s interface.', IFACE],
  container_network_receive_errors_total: [C, 'Receive errors on the pod\'s interface.', IFACE],
  container_network_transmit_bytes_total: [C, 'Bytes sent on the pod\'s interface.', IFACE],
  container_network_transmit_packets_total: [C, 'Packets sent on the pod\'s interface.', IFACE],
  container_network_transmit_packets_dropped_total: [C, 'Outgoing packets dropped on the pod\'s interface.', IFACE],
  container_network_transmit_errors_total: [C, 'Transmit errors on the pod\'s interface.', IFACE],

  container_fs_usage_bytes: [G, 'Bytes the container\'s writable layer takes on its file system.', DEVICE],
  container_fs_limit_bytes: [G, 'Size of the file system holding the container\'s writable layer, in bytes.', DEVICE],
  container_fs_inodes_total: [G, 'Inodes of the file system holding the container\'s writable layer.', DEVICE],
  container_fs_inodes_free: [G, 'Free inodes of the file system holding the container\'s writable layer.', DEVICE],
  container_fs_reads_bytes_total: [C, 'Bytes the container read from a block device.', DEVICE],
  container_fs_reads_total: [C, 'Read operations of the container on a block device.', DEVICE],
  container_fs_writes_bytes_total: [C, 'Bytes the container wrote to a block device.', DEVICE],
  container_fs_writes_total: [C, 'Write operations of the container on a block device.', DEVICE],
  container_blkio_device_usage_total: [C, 'Block I/O bytes of the container by device and operation.', ['device', 'major', 'minor', 'operation']],

  container_processes: [G, 'Processes running in the container.', NONE],
  container_threads: [G, 'Threads running in the container.', NONE],
  container_threads_max: [G, 'Most tasks the container may have (its pids limit); 0 for no limit.', NONE],
  container_file_descriptors: [G, 'Open file descriptors of the container\'s processes.', NONE],
  container_sockets: [G, 'Open sockets of the container\'s processes.', NONE],
  container_ulimits_soft: [G, 'Soft resource limits of the container\'s init process, by limit; unlimited ones are not reported.', ['ulimit']],

  container_last_seen: [G, 'When berthd last saw the container running, in Unix seconds.', NONE],
  container_start_time_seconds: [G, 'When the container started, in Unix seconds.', NONE],

  container_spec_cpu_shares: [G, 'CPU shares of the container\'s cgroup.', NONE],
  container_spec_cpu_period: [G, 'CFS period of the container\'s cgroup, in microseconds.', NONE],
  container_spec_cpu_quota: [G, 'CFS quota of the container\'s cgroup, in microseconds per period; 0 for none.', NONE],
  container_spec_memory_limit_bytes: [G, 'Memory limit of the container\'s cgroup, in bytes; 0 for none.', NONE],
  container_spec_memory_reservation_limit_bytes: [G, 'Memory the container\'s cgroup is guaranteed (soft limit, memory.min on v2), in bytes; 0 for none.', NONE],
  container_spec_memory_swap_limit_bytes: [G, 'Memory plus swap limit of the container\'s cgroup, in bytes; 0 for none.', NONE],
} as const satisfies Record<string, Def>;

export type MetricName = keyof typeof DEFS;

export interface MetricDef {
  name: MetricName;
  type: MetricTypeName;
  help: string;
  /** The label keys after BASE_LABELS. */
  extraLabels: readonly string[];
}

export function metricDef(name: MetricName): MetricDef {
  const [type, help, extraLabels] = DEFS[name];
  return { name, type, help, extraLabels };
}

export const METRIC_NAMES = Object.keys(DEFS) as MetricName[];

export function metricDescriptors(): MetricDescriptor[] {
  return METRIC_NAMES.map((n) => {
    const d = metricDef(n);
    return { name: n, help: d.help, labelKeys: [...BASE_LABELS, ...d.extraLabels] };
  });
}
