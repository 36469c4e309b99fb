/**
 * berthd's gRPC server: the CRI services (and berth.v1.PullProgress) on one unix socket, one set of handlers.
 */
import * as grpc from '@grpc/grpc-js';
import { BerthError } from '../common/errors';
import { listenUnix, observeService, type UnixListener } from '../common/grpc';
import type { Logger } from '../common/log';
import type { ImageStoreApi } from '../image/api';
import { imageService } from './image-service';
import { criCallObserver } from './observability/cri-calls';
import { measuredImageStore } from './observability/image-pulls';
import type { BerthdMetrics } from './observability/registry';
import { runtimeObserver } from './observability/runtime-observer';
import { registerStoreGauges } from './observability/store-gauges';
import { criServices } from './proto/load';
import { PullProgressHub, pullProgressService } from './pull-progress';
import { Runtime, type RuntimeOptions } from './runtime';
import { claimSocket, type SocketClaim } from './socket';

export interface CriServerOptions {
  /** Absolute path of the unix socket. */
  socket: string;
  log: Logger;
  images: ImageStoreApi;
  version: string;
  runtime: Omit<RuntimeOptions, 'log' | 'images' | 'version' | 'observer'>;
  /** The metric families to record into; absent: nothing is measured. */
  metrics?: BerthdMetrics;
}

/** Messages up to this size are accepted (kubelet's own limit is 16 MiB). */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export class CriServer {
  private readonly server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  private readonly shutdownController = new AbortController();
  private readonly progress = new PullProgressHub();
  private readonly runtime: Runtime;
  private claim: SocketClaim | undefined;
  private listener: UnixListener | undefined;

  constructor(private readonly options: CriServerOptions) {
    const defs = criServices();
    const { log, version, metrics } = options;
    // Every pull, kubelet's and the pause image's, goes through this one store: measured once here.
    const images = metrics ? measuredImageStore(options.images, metrics) : options.images;
    this.runtime = new Runtime({ ...options.runtime, log, images, version, observer: metrics && runtimeObserver(metrics) });
    const observed = (def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation) =>
      metrics ? observeService(def, impl, criCallObserver(metrics)) : impl;
    this.server.addService(defs.runtime, observed(defs.runtime, this.runtime.service()));
    this.server.addService(defs.image, observed(defs.image, imageService({ log, images, progress: this.progress, shutdown: this.shutdownController.signal })));
    this.server.addService(defs.pullProgress, observed(defs.pullProgress, pullProgressService(log, this.progress)));
    if (metrics) registerStoreGauges(metrics, { containers: () => this.runtime.context.containers.all(), sandboxes: () => this.runtime.context.sandboxes.all() });
  }

  /** Claims the socket (refusing if another berthd serves it), binds it root-only, and starts serving. */
  async start(): Promise<void> {
    const { socket, log } = this.options;
    this.claim = await claimSocket(socket);
    try {
      // Before serving: the kubelet's first List calls must see what a previous berthd left, reconciled.
      await this.runtime.start();
    } catch (err) {
      this.claim.release();
      this.claim = undefined;
      throw err;
    }
    try {
      this.listener = await listenUnix(this.server, socket, log);
    } catch (err) {
      this.claim.release();
      this.claim = undefined;
      throw new BerthError('Unavailable', `cannot listen on ${socket}: ${(err as Error).message}`, { cause: err });
    }
    log.info('serving', { socket });
  }

  /** Replaces the runtime handlers (a configuration reload); pods and containers keep what they resolved. */
  replaceRuntimeHandlers(runtimes: Record<string, { path: string }>): string[] {
    this.runtime.context.handlers.replace(runtimes);
    return this.runtime.context.handlers.names();
  }

  /**
   * Stops accepting calls, lets calls in flight finish for `graceMs`, then aborts what is left (pulls stop
   * and clean up after themselves) and closes the socket.
   */
  async shutdown(graceMs = 10_000): Promise<void> {
    const { log } = this.options;
    const graceful = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
    this.listener?.close();
    this.listener = undefined;
    this.progress.endAll();
    if ((await Promise.race([graceful, timer])) === 'timeout') {
      log.warn('calls still running after the grace period; aborting them', { graceMs });
      this.shutdownController.abort();
      this.server.forceShutdown();
    }
    await this.runtime.close();
    this.claim?.release();
    this.claim = undefined;
  }
}
