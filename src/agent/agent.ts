/**
 * berth-agent's control loop: watch caches in, pure reconcilers (reconcile/) in the middle, actions out.
 * Every change in a cache schedules one pass (debounced); a pass observes the node, asks reconcileNode what to
 * do and does it, and, while this agent holds the Lease, does the same with reconcileCluster. A pass whose
 * actions changed something is followed by another, so that each reconciler sees its own effects; a failed
 * action is remembered (for the reconciler's backoff) and skips the rest of that handler's actions.
 */
import type { Logger } from '../common/log';
import { GROUP, VERSION, type CanaryResult, type Node, type NodeHandlerState, type RuntimeClass } from './api/types';
import { parseBerthNode, parseNode, parsePod, parseRuntimeClass, parseRuntimeHandler } from './api/validate';
import type { KubeClient } from './kube/client';
import { LeaderElection } from './kube/lease';
import { WatchCache } from './kube/watch-cache';
import { ClusterActions } from './cluster-actions';
import { NodeActions } from './node-actions';
import { reconcileCluster, reconcileNode, type CanaryRecord, type OperationFailure } from './reconcile';
import type { NodeSide } from './node-side';

const DEBOUNCE_MS = 100;
const BERTH_API = `/apis/${GROUP}/${VERSION}`;

export interface AgentOptions {
  kube: KubeClient;
  nodeName: string;
  log: Logger;
  /** The Lease that picks the one agent doing the cluster-wide work. */
  lease: { namespace: string; name: string; identity: string };
  node: NodeSide;
  /** After each pass (metrics, tests). */
  onPass?(result: PassResult): void;
}

export interface PassResult {
  nodeActions: number;
  clusterActions: number;
  nodeFailures: number;
  clusterFailures: number;
  durationSeconds: number;
  leader: boolean;
}

export class Agent {
  readonly runtimeHandlers: WatchCache<ReturnType<typeof parseRuntimeHandler>>;
  readonly runtimeClasses: WatchCache<RuntimeClass>;
  private readonly ownNode: WatchCache<Node>;
  private readonly ownBerthNode: WatchCache<ReturnType<typeof parseBerthNode>>;
  private readonly pods: WatchCache<ReturnType<typeof parsePod>>;
  // The leader's view of every node: watched only while leading.
  private berthNodes: WatchCache<ReturnType<typeof parseBerthNode>> | undefined;
  private nodes: WatchCache<Node> | undefined;
  private readonly election: LeaderElection;
  private readonly canaries = new Map<string, CanaryRecord>();
  private readonly failures = new Map<string, OperationFailure>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private passStartedAt: number | undefined;
  private again = false;
  private stopped = false;
  private synced = false;

  constructor(private readonly o: AgentOptions) {
    const onChange = () => this.schedule();
    const log = o.log;
    this.runtimeHandlers = new WatchCache(o.kube, { path: `${BERTH_API}/runtimehandlers`, parse: parseRuntimeHandler, log, onChange });
    this.runtimeClasses = new WatchCache(o.kube, { path: '/apis/node.k8s.io/v1/runtimeclasses', parse: parseRuntimeClass, log, onChange });
    this.ownNode = new WatchCache(o.kube, { path: '/api/v1/nodes', fieldSelector: `metadata.name=${o.nodeName}`, parse: parseNode, log, onChange });
    this.ownBerthNode = new WatchCache(o.kube, { path: `${BERTH_API}/berthnodes`, fieldSelector: `metadata.name=${o.nodeName}`, parse: parseBerthNode, log, onChange });
    this.pods = new WatchCache(o.kube, { path: '/api/v1/pods', fieldSelector: `spec.nodeName=${o.nodeName}`, parse: parsePod, log, onChange });
    this.election = new LeaderElection(o.kube, { ...o.lease, log, onChange: (leading) => void this.leadershipChanged(leading) });
  }

  get isLeader(): boolean {
    return this.election.isLeader;
  }

  /** Ready once every cache has its first list and the node side answers. */
  get ready(): boolean {
    return this.synced;
  }

  /** Alive unless a pass has been running for longer than `maxPassMs` (a wedged loop: an I/O that never ends). */
  live(maxPassMs = 10 * 60_000): boolean {
    return this.passStartedAt === undefined || Date.now() - this.passStartedAt < maxPassMs;
  }

  /** This node's handlers as its BerthNode last said (for the handler readiness gauge). */
  handlerStates(): readonly NodeHandlerState[] {
    return this.ownBerthNode.get(this.o.nodeName)?.status?.handlers ?? [];
  }

  async start(): Promise<void> {
    await Promise.all([this.runtimeHandlers, this.runtimeClasses, this.ownNode, this.ownBerthNode, this.pods].map((c) => c.start()));
    this.synced = true;
    this.election.start();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const c of [this.runtimeHandlers, this.runtimeClasses, this.ownNode, this.ownBerthNode, this.pods, this.berthNodes, this.nodes]) c?.stop();
    await this.running;
    await this.election.stop();
  }

  private async leadershipChanged(leading: boolean): Promise<void> {
    if (leading) {
      const onChange = () => this.schedule();
      this.berthNodes = new WatchCache(this.o.kube, { path: `${BERTH_API}/berthnodes`, parse: parseBerthNode, log: this.o.log, onChange });
      this.nodes = new WatchCache(this.o.kube, { path: '/api/v1/nodes', parse: parseNode, log: this.o.log, onChange });
      try {
        await Promise.all([this.berthNodes.start(), this.nodes.start()]);
      } catch (err) {
        this.o.log.warn('cannot list the cluster for the leader', { error: (err as Error).message });
      }
    } else {
      this.berthNodes?.stop();
      this.nodes?.stop();
      this.berthNodes = undefined;
      this.nodes = undefined;
    }
    this.schedule();
  }

  /** One pass soon; a pass already running is followed by one more. */
  schedule(delayMs = DEBOUNCE_MS): void {
    if (this.stopped || !this.synced) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.pass().catch((err: unknown) => this.o.log.error('reconcile pass failed', { error: (err as Error).message })).finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
    }, delayMs);
  }

  private async pass(): Promise<void> {
    const started = Date.now();
    this.passStartedAt = started;
    try {
      await this.passBody(started);
    } finally {
      this.passStartedAt = undefined;
    }
  }

  private async passBody(started: number): Promise<void> {
    const node = this.ownNode.get(this.o.nodeName);
    let nodeActions = 0;
    let clusterActions = 0;
    let nodeFailures = 0;
    let clusterFailures = 0;
    let requeue: number | undefined;
    if (node) {
      const observed = await this.o.node.observe();
      const plan = reconcileNode({
        node, runtimeHandlers: this.runtimeHandlers.items(), configured: observed.configured,
        canaries: [...this.canaries.values()], failures: [...this.failures.values()], pods: this.pods.items(),
        runtimeClassHandlers: Object.fromEntries(this.runtimeClasses.items().map((rc) => [rc.metadata.name, rc.handler])),
        facts: observed.facts, nodeConditions: observed.conditions, status: this.ownBerthNode.get(this.o.nodeName)?.status, now: new Date(),
      });
      const done = await new NodeActions({
        kube: this.o.kube, nodeName: this.o.nodeName, nodeUid: node.metadata.uid, node: this.o.node, log: this.o.log,
        berthNodeExists: this.ownBerthNode.get(this.o.nodeName) !== undefined,
        runtimeHandlers: this.runtimeHandlers.items(),
        canary: (handler, generation, result: CanaryResult) => this.canaries.set(handler, { handler, generation, result }),
        forgetCanary: (handler) => this.canaries.delete(handler),
        failed: (f) => this.failures.set(f.handler, f),
        succeeded: (handler) => this.failures.delete(handler),
      }).run(plan.actions);
      nodeActions = done.ran;
      nodeFailures = done.failed;
      requeue = plan.requeueAfterMs;
    } else {
      this.o.log.warn('this node is not in the API (yet)', { node: this.o.nodeName });
    }
    if (this.election.isLeader && this.berthNodes && this.nodes) {
      const plan = reconcileCluster({
        runtimeHandlers: this.runtimeHandlers.items(), runtimeClasses: this.runtimeClasses.items(),
        berthNodes: this.berthNodes.items(), nodes: this.nodes.items(), now: new Date(),
      });
      const done = await new ClusterActions({ kube: this.o.kube, log: this.o.log, runtimeHandlers: this.runtimeHandlers, runtimeClasses: this.runtimeClasses }).run(plan.actions);
      clusterActions = done.ran;
      clusterFailures = done.failed;
      if (plan.requeueAfterMs !== undefined) requeue = Math.min(requeue ?? Infinity, plan.requeueAfterMs);
    }
    this.o.onPass?.({ nodeActions, clusterActions, nodeFailures, clusterFailures, durationSeconds: (Date.now() - started) / 1000, leader: this.election.isLeader });
    // What the actions changed comes back through the watches; node-local effects (drop-ins, canaries) do not.
    if (nodeActions > 0) this.again = true;
    if (requeue !== undefined && Number.isFinite(requeue)) setTimeout(() => this.schedule(), Math.max(requeue, DEBOUNCE_MS)).unref();
  }
}
