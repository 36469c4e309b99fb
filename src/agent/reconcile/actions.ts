/**
 * The contract between the reconcilers (pure: observed state in, actions out) and the I/O edge that carries
 * the actions out. Actions are listed in the order they must run. The edge runs them one after the other;
 * when one fails it records the failure (for node actions: as an OperationFailure, see node.ts), skips the
 * remaining actions that name the same handler (a canary after a failed configure means nothing), goes on
 * with the rest, and reconciles again with what it observes then. Every action is safe to repeat: a
 * reconciler that sees its effect already in place does not ask for it again.
 */
import type { BerthNodeStatus, RuntimeClass, RuntimeHandlerRuntime, RuntimeHandlerStatus } from '../api/types';

// --- what one node's agent does on its own node ---

/**
 * Write (or overwrite) the handler's drop-in and apply it to the node's CRI without restarting containers.
 * The drop-in records `runtimeHandler`, `uid` and `generation` so that the next read-back (ConfiguredHandler)
 * says which object and generation the node runs. Configuring a handler forgets its earlier canary results.
 */
export interface ConfigureHandler {
  readonly kind: 'configureHandler';
  /** The CRI handler name (RuntimeHandler spec.handler). */
  readonly handler: string;
  /** The RuntimeHandler's name. */
  readonly runtimeHandler: string;
  readonly uid?: string;
  readonly generation: number;
  readonly runtime: RuntimeHandlerRuntime;
}

/** Remove the handler's drop-in and apply that to the CRI; only asked for when no pod on the node uses it. */
export interface UnconfigureHandler {
  readonly kind: 'unconfigureHandler';
  readonly handler: string;
}

/** Run the canary container through the handler as configured now; its result comes back as a CanaryRecord for `generation`. */
export interface RunCanary {
  readonly kind: 'runCanary';
  readonly handler: string;
  readonly generation: number;
  readonly timeoutSeconds: number;
}

/** On this agent's own Node. */
export interface SetNodeLabel {
  readonly kind: 'setNodeLabel';
  readonly key: string;
  readonly value: string;
}

export interface RemoveNodeLabel {
  readonly kind: 'removeNodeLabel';
  readonly key: string;
}

/** The whole status of this node's BerthNode (named after the node); asked for only when it differs from what is there. */
export interface WriteBerthNodeStatus {
  readonly kind: 'writeBerthNodeStatus';
  readonly status: BerthNodeStatus;
}

export type NodeAction = ConfigureHandler | UnconfigureHandler | RunCanary | SetNodeLabel | RemoveNodeLabel | WriteBerthNodeStatus;

// --- what the leader (the agent holding the Lease) does cluster-wide ---

/** Add FINALIZER to the RuntimeHandler `name`. */
export interface AddFinalizer {
  readonly kind: 'addFinalizer';
  readonly name: string;
}

/** Remove FINALIZER from the RuntimeHandler `name` (it is being deleted and no node has its handler any more). */
export interface RemoveFinalizer {
  readonly kind: 'removeFinalizer';
  readonly name: string;
}

/** Create the node.k8s.io/v1 RuntimeClass `body` (it carries OWNER_LABEL). */
export interface CreateRuntimeClass {
  readonly kind: 'createRuntimeClass';
  readonly body: RuntimeClass;
}

/**
 * Make the RuntimeClass `name` (one we own) have `body`'s handler, overhead and scheduling: a field absent
 * from `body` is removed; labels other than OWNER_LABEL are kept. `resourceVersion` is what was observed,
 * for an optimistic-concurrency precondition. (A changed `handler` is immutable in the API: the reconciler
 * then asks for a delete and a create instead.)
 */
export interface UpdateRuntimeClass {
  readonly kind: 'updateRuntimeClass';
  readonly name: string;
  readonly resourceVersion?: string;
  readonly body: RuntimeClass;
}

/** Delete the RuntimeClass `name`; only ever one that carries OWNER_LABEL. */
export interface DeleteRuntimeClass {
  readonly kind: 'deleteRuntimeClass';
  readonly name: string;
}

/** The whole status subresource of the RuntimeHandler `name`; asked for only when it differs from what is there. */
export interface WriteRuntimeHandlerStatus {
  readonly kind: 'writeRuntimeHandlerStatus';
  readonly name: string;
  readonly status: RuntimeHandlerStatus;
}

export type ClusterAction = AddFinalizer | RemoveFinalizer | CreateRuntimeClass | UpdateRuntimeClass | DeleteRuntimeClass | WriteRuntimeHandlerStatus;

/** A reconciler's answer: the actions, in order, and when to reconcile again even if nothing changes (a retry backoff ends). */
export interface Plan<A> {
  readonly actions: readonly A[];
  readonly requeueAfterMs?: number;
}
