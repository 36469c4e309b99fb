/**
 * What the RuntimeService handlers work with, injected by the server: the stores, the image store, the shim,
 * pod networking, the runtime handlers and the per-object locks. Handlers translate CRI messages and call
 * these; none of them opens a socket or reads the config itself.
 */
import type { KeyedLock } from '../../common/keyed-lock';
import type { Logger } from '../../common/log';
import type { ImageStoreApi } from '../../image/api';
import type { ShimClient } from '../../shim';
import type { RuntimeObserver } from '../observability/observer';
import type { PodNetwork } from '../sandbox/network';
import type { StreamingServer } from '../streaming';
import type { ContainerStore, SandboxStore } from '../store';
import type { ContainerEvents } from './events';
import type { RuntimeHandlers } from './handlers';

export type CgroupDriver = 'cgroupfs' | 'systemd';

export interface RuntimeContext {
  log: Logger;
  images: ImageStoreApi;
  /** The node's berth-shim, started on first use. */
  shim: () => Promise<ShimClient>;
  sandboxes: SandboxStore;
  containers: ContainerStore;
  network: PodNetwork;
  handlers: RuntimeHandlers;
  /** One operation at a time per sandbox id and per container id. */
  locks: KeyedLock;
  /** Per-boot directory for sandboxes and container bundles (<state>/cri). */
  stateDir: string;
  cgroupDriver: CgroupDriver;
  /** "" = no pause process; otherwise the image of every pod's infra container. */
  pauseImage: string;
  /** The lowest oom_score_adj a container may be given (this process's own, without CAP_SYS_RESOURCE). */
  minOomScoreAdj: number;
  /** Set by UpdateRuntimeConfig. */
  podCidr: string;
  version: string;
  /** Exec/Attach/PortForward URLs point here. */
  streaming: StreamingServer;
  /** Streams of GetContainerEvents. */
  events: ContainerEvents;
  /** Hears pod start times (metrics). */
  observer: RuntimeObserver;
}

/** Unix nanoseconds now, as the CRI's int64 strings. */
export function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n).toString();
}

export function msToNs(ms: number): string {
  return ms > 0 ? (BigInt(Math.round(ms)) * 1_000_000n).toString() : '0';
}
