/**
 * The RuntimeService as the CRI server mounts it: builds the context (stores under <root>/cri, per-boot
 * state under <state>/cri, the shim on first use, CNI), recovers what a previous berthd left, follows the
 * shim's exit events, and hands out the handler table.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { KeyedLock } from '../../common/keyed-lock';
import type { Logger } from '../../common/log';
import type { ImageStoreApi } from '../../image/api';
import { ShimClient } from '../../shim';
import { NO_OBSERVER, type RuntimeObserver } from '../observability/observer';
import { PodNetwork, cniCacheDir } from '../sandbox/network';
import { ShimStreamingBackend, StreamingServer } from '../streaming';
import { ContainerStore, SandboxStore } from '../store';
import type { CgroupDriver, RuntimeContext } from './context';
import { ContainerEvents } from './events';
import { followShimEvents } from './exits';
import { runtimeHandlers } from './handlers';
import { recover } from './recover';
import { runtimeService } from './service';

export { KUBELET_API_VERSION, RUNTIME_API_VERSION, RUNTIME_NAME } from './status';
export type { CgroupDriver } from './context';

export interface RuntimeOptions {
  root: string;
  state: string;
  log: Logger;
  images: ImageStoreApi;
  version: string;
  cni: { confDir: string; binDirs: string[] };
  runtimes: Record<string, { path: string }>;
  cgroupDriver: CgroupDriver;
  /** host:port of the streaming server (port 0: any free one). */
  streamingAddress: string;
  /** The infra container image of every pod; "" or absent: none (namespaces pinned by bind mounts). */
  pauseImage?: string;
  /** The berth-shim executable (default: found beside berthd). */
  shimBinary?: string;
  /** Hears pod start and CNI timings (default: nobody). */
  observer?: RuntimeObserver;
}

export class Runtime {
  readonly context: RuntimeContext;
  private shimClient: Promise<ShimClient> | undefined;
  private stopEvents: (() => void) | undefined;

  constructor(private readonly options: RuntimeOptions) {
    const criRoot = path.join(options.root, 'cri');
    const stateDir = path.join(options.state, 'cri');
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o711 });
    const log = options.log.child({ component: 'runtime' });
    const sandboxes = new SandboxStore(criRoot, log);
    const observer = options.observer ?? NO_OBSERVER;
    const streaming = new StreamingServer({
      address: options.streamingAddress,
      log: options.log.child({ component: 'streaming' }),
      // A host-network pod has no netns of its own: its ports are the node's.
      backend: new ShimStreamingBackend({ shim: () => this.shim(), log, netnsOf: (id) => sandboxes.find(id)?.namespaces.network }),
    });
    this.context = {
      log,
      images: options.images,
      shim: () => this.shim(),
      sandboxes,
      containers: new ContainerStore(criRoot, log),
      network: new PodNetwork({ ...options.cni, cacheDir: cniCacheDir(options.root), log, observe: observer.cniOperation }),
      handlers: runtimeHandlers(options.runtimes),
      locks: new KeyedLock(),
      stateDir,
      cgroupDriver: options.cgroupDriver,
      pauseImage: options.pauseImage ?? '',
      minOomScoreAdj: ownOomScoreAdj(),
      podCidr: '',
      version: options.version,
      events: new ContainerEvents(),
      streaming,
      observer,
    };
  }

  service(): grpc.UntypedServiceImplementation {
    return runtimeService(this.context);
  }

  /** Reconciles what a previous berthd left, then opens the streaming server. */
  async start(): Promise<void> {
    await recover(this.context);
    await this.context.streaming.start();
  }

  /** The node's shim, connected (and started) once; its exits are followed from then on. */
  private shim(): Promise<ShimClient> {
    this.shimClient ??= ShimClient.connect({ stateDir: path.join(this.options.state, 'shim'), shimBinary: this.options.shimBinary }).then((client) => {
      this.stopEvents = followShimEvents(this.context, (fn, replay) => client.events(fn, replay));
      return client;
    }, (err: unknown) => {
      this.shimClient = undefined;
      throw err;
    });
    return this.shimClient;
  }

  async close(): Promise<void> {
    await this.context.streaming.close();
    this.stopEvents?.();
    void this.shimClient?.then((c) => c.close(), () => undefined);
  }
}

/** Without CAP_SYS_RESOURCE a process may not go below its own oom_score_adj, nor may its children. */
function ownOomScoreAdj(): number {
  const CAP_SYS_RESOURCE = 24n;
  try {
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (capEff && (BigInt(`0x${capEff[1]}`) >> CAP_SYS_RESOURCE) & 1n) return -1000;
    return Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}
