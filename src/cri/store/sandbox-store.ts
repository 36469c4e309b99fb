/** Pod sandboxes: their records on disk and the name index, looked up by id or unique id prefix. */
import * as path from 'node:path';
import { notFound } from '../../common/errors';
import { findByPrefix } from '../../common/ids';
import type { Logger } from '../../common/log';
import type { PodSandboxConfig } from '../types';
import { NameIndex } from './names';
import { RecordDir } from './records';

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
}

export function sandboxName(config: PodSandboxConfig): string {
  const m = config.metadata!;
  return `${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

export class SandboxStore {
  readonly records: RecordDir<SandboxRecord>;
  readonly names = new NameIndex();

  constructor(root: string, log: Logger) {
    this.records = new RecordDir(path.join(root, 'sandboxes'), 'sandbox', log);
    for (const r of this.records.all()) this.names.reserve(r.name, r.id, 'sandbox');
  }

  /** The sandbox an id or unique prefix names; undefined when none. */
  find(idOrPrefix: string): SandboxRecord | undefined {
    const id = findByPrefix(this.records.ids(), idOrPrefix, 'pod sandbox id');
    return id === undefined ? undefined : this.records.get(id);
  }

  get(idOrPrefix: string): SandboxRecord {
    const s = this.find(idOrPrefix);
    if (!s) throw notFound(`pod sandbox "${idOrPrefix}" not found`);
    return s;
  }

  all(): SandboxRecord[] {
    return this.records.all();
  }

  put(rec: SandboxRecord): void {
    this.records.put(rec);
  }

  delete(rec: SandboxRecord): void {
    this.records.delete(rec.id);
    this.names.release(rec.name);
  }
}
