/** Pod sandboxes: their records on disk and the name index, looked up by id or unique id prefix. */
import * as path from 'node:path';
import type { Logger } from '../../common/log';
import type { PodSandboxConfig } from '../types';
import { NamedRecords } from './records';

/**
 * creating: RunPodSandbox has begun and not finished (a restart finding one tears it down);
 * ready: everything set up; notready: stopped (namespaces and network released), not yet removed.
 */
export type SandboxState = 'creating' | 'ready' | 'notready';

export interface SandboxRecord {
  id: string;
  /** The unique name: `<name>_<namespace>_<uid>_<attempt>`. */
  name: string;
  config: PodSandboxConfig;
  runtimeHandler: string;
  state: SandboxState;
  /** Unix nanoseconds, as a decimal string (int64 on the wire). */
  createdAt: string;
  /** Per-boot directory: pinned namespaces, hosts/resolv.conf/hostname, /dev/shm. */
  dir: string;
  /** Paths of the pinned namespaces the containers join; absent = the host's. */
  namespaces: { network?: string; ipc?: string; uts?: string; pid?: string; user?: string };
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
  /** Pod IPs, the first is the primary (dual-stack: one per family). */
  ips: string[];
  /** The CNI network the pod was attached to ("" when host network). */
  network: string;
  cgroupParent: string;
  /** The infra container when the config names a pause image (its task lives in the shim; not a CRI container). */
  infra?: { id: string; image: string; pid: number };
}

export function sandboxName(config: PodSandboxConfig): string {
  const m = config.metadata!;
  return `${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

export class SandboxStore extends NamedRecords<SandboxRecord> {
  constructor(root: string, log: Logger) {
    super(path.join(root, 'sandboxes'), 'pod sandbox', log);
  }
}
