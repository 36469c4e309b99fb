/**
 * A tiny world for the reconciler tests: builders for the objects, and simulators that carry out the
 * actions the reconcilers return the way the agent's edge is meant to (actions.ts), so that a test can
 * reconcile, apply, and reconcile again.
 */
import type { BerthNode, BerthNodeStatus, Node, PodUse, RuntimeClass, RuntimeHandler, RuntimeHandlerSpec, RuntimeHandlerStatus } from '../../src/agent/api/types';
import { FINALIZER, OWNER_LABEL } from '../../src/agent/api/types';
import type { ClusterAction, NodeAction } from '../../src/agent/reconcile/actions';
import { rfc3339 } from '../../src/agent/reconcile/condition';
import type { CanaryRecord, ConfiguredHandler, NodeFacts, NodeReconcileInput, OperationFailure } from '../../src/agent/reconcile/node';

export const T0 = new Date('2025-03-01T12:00:00Z');
export const later = (t: Date, ms: number): Date => new Date(t.getTime() + ms);

export const FACTS: NodeFacts = {
  stackVersion: '0.1.0',
  berthd: { healthy: true, version: '0.1.0', message: '' },
  kubeletRuntimeEndpoint: 'unix:///run/berth/berthd.sock',
  runtime: 'berthd',
  cgroupDriver: 'systemd',
};

export interface RhOptions {
  readonly handler?: string;
  readonly generation?: number;
  readonly uid?: string;
  readonly created?: string;
  readonly deleting?: boolean;
  readonly finalizers?: readonly string[];
  readonly spec?: Partial<RuntimeHandlerSpec>;
  readonly status?: RuntimeHandlerStatus;
}

export function runtimeHandler(name: string, o: RhOptions = {}): RuntimeHandler {
  const handler = o.handler ?? name;
  const metadata = {
    name,
    uid: o.uid ?? `uid-${name}`,
    generation: o.generation ?? 1,
    finalizers: o.finalizers ?? [FINALIZER],
    ...(o.created ? { creationTimestamp: o.created } : {}),
    ...(o.deleting ? { deletionTimestamp: rfc3339(T0) } : {}),
  };
  const spec: RuntimeHandlerSpec = {
    handler,
    runtime: { type: 'runc' },
    nodeSelector: {},
    runtimeClass: { create: true, name: handler },
    canary: { enabled: true, timeoutSeconds: 30 },
    maxUnavailable: 1,
    ...o.spec,
  };
  return { metadata, spec, ...(o.status ? { status: o.status } : {}) };
}

export const node = (name: string, labels: Record<string, string> = {}): Node => ({ metadata: { name, labels } });

export const pod = (name: string, runtimeClassName: string | undefined, phase: PodUse['phase'] = 'Running'): PodUse => ({
  namespace: 'default',
  name,
  ...(runtimeClassName !== undefined ? { runtimeClassName } : {}),
  phase,
});

/** What the edge of one node would carry out, and what it would read back. */
export class NodeSim {
  labels: Record<string, string>;
  configured: ConfiguredHandler[] = [];
  canaries: CanaryRecord[] = [];
  failures: OperationFailure[] = [];
  status: BerthNodeStatus | undefined;
  pods: PodUse[] = [];
  /** Every action applied, in order. */
  readonly log: NodeAction[] = [];

  constructor(
    readonly name: string,
    labels: Record<string, string> = {},
    /** Why the canary of handler@generation fails, if it does. */
    public canary: (handler: string, generation: number) => string | undefined = () => undefined,
    /** Why configuring handler@generation fails, if it does. */
    public configureError: (handler: string, generation: number) => string | undefined = () => undefined,
  ) {
    this.labels = { ...labels };
  }

  node(): Node {
    return node(this.name, this.labels);
  }

  berthNode(): BerthNode {
    return { metadata: { name: this.name }, ...(this.status ? { status: this.status } : {}) };
  }

  input(runtimeHandlers: readonly RuntimeHandler[], now: Date, runtimeClassHandlers: Readonly<Record<string, string>> = {}): NodeReconcileInput {
    return {
      node: this.node(),
      runtimeHandlers,
      configured: this.configured,
      canaries: this.canaries,
      failures: this.failures,
      pods: this.pods,
      runtimeClassHandlers,
      facts: FACTS,
      ...(this.status ? { status: this.status } : {}),
      now,
    };
  }

  apply(actions: readonly NodeAction[], now: Date): void {
    const failed = new Set<string>();
    for (const a of actions) {
      if ('handler' in a && failed.has(a.handler)) continue;
      this.log.push(a);
      switch (a.kind) {
        case 'configureHandler': {
          const err = this.configureError(a.handler, a.generation);
          this.failures = this.failures.filter((f) => f.handler !== a.handler);
          if (err) {
            this.failures.push({ handler: a.handler, operation: 'configure', generation: a.generation, message: err, time: rfc3339(now) });
            failed.add(a.handler);
            break;
          }
          this.configured = [...this.configured.filter((c) => c.handler !== a.handler), { handler: a.handler, generation: a.generation, ...(a.uid ? { uid: a.uid } : {}) }];
          this.canaries = this.canaries.filter((c) => c.handler !== a.handler);
          break;
        }
        case 'unconfigureHandler':
          this.configured = this.configured.filter((c) => c.handler !== a.handler);
          this.canaries = this.canaries.filter((c) => c.handler !== a.handler);
          break;
        case 'runCanary': {
          const err = this.canary(a.handler, a.generation);
          const record = { handler: a.handler, generation: a.generation, result: { passed: err === undefined, time: rfc3339(now), message: err ?? 'ok' } };
          this.canaries = [...this.canaries.filter((c) => !(c.handler === a.handler && c.generation === a.generation)), record];
          break;
        }
        case 'setNodeLabel':
          this.labels[a.key] = a.value;
          break;
        case 'removeNodeLabel':
          delete this.labels[a.key];
          break;
        case 'writeBerthNodeStatus':
          this.status = a.status;
          break;
      }
    }
  }
}

/** The leader's side of the API. */
export class ClusterSim {
  readonly log: ClusterAction[] = [];

  constructor(
    public runtimeHandlers: RuntimeHandler[],
    public runtimeClasses: RuntimeClass[] = [],
  ) {}

  apply(actions: readonly ClusterAction[]): void {
    for (const a of actions) {
      this.log.push(a);
      switch (a.kind) {
        case 'addFinalizer':
          this.patchHandler(a.name, (rh) => ({ ...rh, metadata: { ...rh.metadata, finalizers: [...(rh.metadata.finalizers ?? []), FINALIZER] } }));
          break;
        case 'removeFinalizer': {
          const rh = this.runtimeHandlers.find((r) => r.metadata.name === a.name);
          const finalizers = (rh?.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
          // The API server deletes an object being deleted once its last finalizer is gone.
          if (rh?.metadata.deletionTimestamp && finalizers.length === 0) this.runtimeHandlers = this.runtimeHandlers.filter((r) => r !== rh);
          else this.patchHandler(a.name, (r) => ({ ...r, metadata: { ...r.metadata, finalizers } }));
          break;
        }
        case 'createRuntimeClass':
          if (this.runtimeClasses.some((rc) => rc.metadata.name === a.body.metadata.name)) throw new Error(`RuntimeClass ${a.body.metadata.name} already exists`);
          this.runtimeClasses.push(a.body);
          break;
        case 'updateRuntimeClass': {
          const i = this.runtimeClasses.findIndex((rc) => rc.metadata.name === a.name);
          if (i < 0) throw new Error(`RuntimeClass ${a.name} not found`);
          if (this.runtimeClasses[i].metadata.labels?.[OWNER_LABEL] === undefined) throw new Error(`update of foreign RuntimeClass ${a.name}`);
          const old = this.runtimeClasses[i];
          this.runtimeClasses[i] = { ...a.body, metadata: { ...old.metadata, labels: { ...old.metadata.labels, ...a.body.metadata.labels } } };
          break;
        }
        case 'deleteRuntimeClass': {
          const rc = this.runtimeClasses.find((r) => r.metadata.name === a.name);
          if (!rc) throw new Error(`RuntimeClass ${a.name} not found`);
          if (rc.metadata.labels?.[OWNER_LABEL] === undefined) throw new Error(`delete of foreign RuntimeClass ${a.name}`);
          this.runtimeClasses = this.runtimeClasses.filter((r) => r !== rc);
          break;
        }
        case 'writeRuntimeHandlerStatus':
          this.patchHandler(a.name, (rh) => ({ ...rh, status: a.status }));
          break;
      }
    }
  }

  /** RuntimeClass name → handler, as a node's informer would map it. */
  classHandlers(): Record<string, string> {
    return Object.fromEntries(this.runtimeClasses.map((rc) => [rc.metadata.name, rc.handler]));
  }

  handler(name: string): RuntimeHandler {
    const rh = this.runtimeHandlers.find((r) => r.metadata.name === name);
    if (!rh) throw new Error(`no RuntimeHandler ${name}`);
    return rh;
  }

  /** A spec change as the API server makes it: generation + 1, status kept. */
  changeSpec(name: string, spec: Partial<RuntimeHandlerSpec>): void {
    this.patchHandler(name, (rh) => ({ ...rh, metadata: { ...rh.metadata, generation: (rh.metadata.generation ?? 1) + 1 }, spec: { ...rh.spec, ...spec } }));
  }

  private patchHandler(name: string, f: (rh: RuntimeHandler) => RuntimeHandler): void {
    const i = this.runtimeHandlers.findIndex((r) => r.metadata.name === name);
    if (i < 0) throw new Error(`no RuntimeHandler ${name}`);
    this.runtimeHandlers[i] = f(this.runtimeHandlers[i]);
  }
}
