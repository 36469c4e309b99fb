/**
 * What one node's agent does about the RuntimeHandlers: configure the ones that select its node, canary them,
 * label the node for the ready ones, take away the others once no pod uses them, and report it all in its
 * BerthNode. A pure function of what the agent observed; the edge carries out the actions (actions.ts).
 *
 * The rules, per CRI handler name:
 * - Desired: the handler's owner (claims.ts) is live and its nodeSelector matches the node's labels.
 * - A desired handler not configured on the node (or configured from another object of the same handler
 *   name, told by uid) is configured at once, at the current generation: there is no working configuration
 *   to keep available, so no rollout applies (this covers a new RuntimeHandler, whose status has no rollout
 *   yet, and a node that joins later).
 * - A desired handler configured at another generation is reconfigured only when the leader lets the node in
 *   (`status.rollout` is for the current generation and lists the node); until then it stays as it is and
 *   reports on the generation it runs. No leader, no rollout: nodes keep what they have.
 * - Before reconfiguring, the label goes (the node stops taking new pods of that class while it changes);
 *   after configuring, the canary runs (when enabled) for that generation; the label is set only when the
 *   handler is configured at the generation it reports and its canary passed (or is disabled).
 * - A failed configure or canary: no label, phase Failed with the reason, retried after `retryAfterMs`.
 * - A handler no longer desired: the label goes first; once the label is observed gone (so the scheduler
 *   sends no new pods) and no unfinished pod uses it (in-use.ts), it is unconfigured; until then, phase
 *   Removing says which pods. A `berth.dev/handler.*` label of a handler that is neither desired nor
 *   configured is stale and removed.
 * - NodeHandlerState.generation is the generation the state is about: the configured one for Configured,
 *   Ready and Removing; the one being applied for Pending; the one that failed for Failed (so that the leader
 *   sees a failure of the current generation and stops the rollout).
 * - The BerthNode status is written only when it differs from the current one.
 */
import type { BerthNodeStatus, CanaryResult, Node, NodeHandlerState, PodUse, RuntimeHandler } from '../api/types';
import { HANDLER_LABEL_READY, handlerLabel, GROUP } from '../api/types';
import type { NodeAction, Plan } from './actions';
import { generationOf, handlerOwners } from './claims';
import { conditionsFrom, type ConditionSpec } from './condition';
import { sameJson } from './diff';
import { classHandlers, describeUsers, podsUsing } from './in-use';
import { matchesSelector } from './selector';

/** A handler's drop-in as read back from the node. */
export interface ConfiguredHandler {
  readonly handler: string;
  readonly generation: number;
  /** The RuntimeHandler's uid the drop-in was written from, when it recorded one. */
  readonly uid?: string;
}

/** The last canary result the edge knows for a handler at a generation. */
export interface CanaryRecord {
  readonly handler: string;
  readonly generation: number;
  readonly result: CanaryResult;
}

/** The last failed configure/unconfigure of a handler, kept by the edge (in memory is enough: a restart retries once). */
export interface OperationFailure {
  readonly handler: string;
  readonly operation: 'configure' | 'unconfigure';
  readonly generation: number;
  readonly message: string;
  /** RFC 3339. */
  readonly time: string;
}

/** The node-level parts of the BerthNode status, which other parts of the agent find out. */
export type NodeFacts = Omit<BerthNodeStatus, 'handlers' | 'conditions'>;

export interface NodeReconcileInput {
  readonly node: Node;
  readonly runtimeHandlers: readonly RuntimeHandler[];
  readonly configured: readonly ConfiguredHandler[];
  readonly canaries: readonly CanaryRecord[];
  readonly failures: readonly OperationFailure[];
  /** The pods bound to this node. */
  readonly pods: readonly PodUse[];
  /** The existing RuntimeClasses: name → handler. */
  readonly runtimeClassHandlers: Readonly<Record<string, string>>;
  readonly facts: NodeFacts;
  /** Node-level conditions found out elsewhere (berthd health…); HandlersReady is added here. */
  readonly nodeConditions?: readonly ConditionSpec[];
  /** The BerthNode's status as it is now (absent before the first write). */
  readonly status?: BerthNodeStatus;
  readonly now: Date;
  /** How long a failed configure, unconfigure or canary waits before it is tried again; default 5 minutes. */
  readonly retryAfterMs?: number;
}

export const DEFAULT_RETRY_AFTER_MS = 5 * 60_000;
export const HANDLERS_READY = 'HandlersReady';
const LABEL_PREFIX = `${GROUP}/handler.`;

/** What one handler needs, before the actions are put in their global order. */
interface Step {
  readonly state?: NodeHandlerState;
  readonly label: 'set' | 'remove' | 'keep';
  readonly action?: NodeAction;
  /** When a backoff ends, epoch ms. */
  readonly retryAt?: number;
}

interface Context {
  readonly input: NodeReconcileInput;
  readonly retryAfterMs: number;
  readonly classes: ReadonlyMap<string, string>;
}

export function reconcileNode(input: NodeReconcileInput): Plan<NodeAction> {
  const labels = input.node.metadata.labels ?? {};
  const ctx: Context = { input, retryAfterMs: input.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS, classes: classHandlers(input.runtimeClassHandlers, input.runtimeHandlers) };
  const desired = new Map<string, RuntimeHandler>();
  for (const [h, rh] of handlerOwners(input.runtimeHandlers)) if (matchesSelector(rh.spec.nodeSelector, labels)) desired.set(h, rh);
  const configured = new Map(input.configured.map((c) => [c.handler, c]));
  const labelled = Object.keys(labels).filter((k) => k.startsWith(LABEL_PREFIX)).map((k) => k.slice(LABEL_PREFIX.length));
  const names = [...new Set([...desired.keys(), ...configured.keys(), ...labelled])].sort();

  const steps = names.map((h) => {
    const rh = desired.get(h);
    return { h, step: rh ? desiredStep(ctx, h, rh, configured.get(h)) : removalStep(ctx, h, configured.get(h)) };
  });

  const actions: NodeAction[] = [];
  for (const { h, step } of steps) {
    const key = handlerLabel(h);
    if (step.label === 'remove' && key in labels) actions.push({ kind: 'removeNodeLabel', key });
  }
  const order: readonly NodeAction['kind'][] = ['unconfigureHandler', 'configureHandler', 'runCanary'];
  for (const kind of order) for (const { step } of steps) if (step.action?.kind === kind) actions.push(step.action);
  for (const { h, step } of steps) {
    const key = handlerLabel(h);
    if (step.label === 'set' && labels[key] !== HANDLER_LABEL_READY) actions.push({ kind: 'setNodeLabel', key, value: HANDLER_LABEL_READY });
  }

  const states = steps.flatMap(({ step }) => (step.state ? [step.state] : []));
  const status = nodeStatus(input, states);
  if (!sameJson(status, input.status)) actions.push({ kind: 'writeBerthNodeStatus', status });

  const retries = steps.flatMap(({ step }) => (step.retryAt === undefined ? [] : [step.retryAt]));
  return retries.length > 0 ? { actions, requeueAfterMs: Math.max(0, Math.min(...retries) - input.now.getTime()) } : { actions };
}

function desiredStep(ctx: Context, handler: string, rh: RuntimeHandler, conf: ConfiguredHandler | undefined): Step {
  const generation = generationOf(rh);
  const sameObject = conf !== undefined && (conf.uid === undefined || rh.metadata.uid === undefined || conf.uid === rh.metadata.uid);
  if (!conf || !sameObject) return applyStep(ctx, handler, rh, `configuring generation ${generation}`);
  if (conf.generation === generation) return configuredStep(ctx, handler, rh, generation, '');
  const rollout = rh.status?.rollout;
  if (rollout?.generation === generation && rollout.nodes.includes(ctx.input.node.metadata.name)) return applyStep(ctx, handler, rh, `updating from generation ${conf.generation} to ${generation}`);
  return configuredStep(ctx, handler, rh, conf.generation, `; generation ${generation} waits for its rollout to reach this node`);
}

/** Configure the handler at the RuntimeHandler's generation, unless that failed lately. */
function applyStep(ctx: Context, handler: string, rh: RuntimeHandler, message: string): Step {
  const generation = generationOf(rh);
  const failure = ctx.input.failures.find((f) => f.handler === handler && f.operation === 'configure' && f.generation === generation);
  const retryAt = failure ? Date.parse(failure.time) + ctx.retryAfterMs : undefined;
  if (failure && retryAt !== undefined && retryAt > ctx.input.now.getTime())
    return { state: { handler, generation, phase: 'Failed', message: `configure failed: ${failure.message}` }, label: 'remove', retryAt };
  return {
    state: { handler, generation, phase: 'Pending', message },
    label: 'remove',
    action: { kind: 'configureHandler', handler, runtimeHandler: rh.metadata.name, ...(rh.metadata.uid ? { uid: rh.metadata.uid } : {}), generation, runtime: rh.spec.runtime },
  };
}

/** The handler is configured at `generation`: canary it, then advertise it. */
function configuredStep(ctx: Context, handler: string, rh: RuntimeHandler, generation: number, note: string): Step {
  if (!rh.spec.canary.enabled) return { state: { handler, generation, phase: 'Ready', message: `configured, canary disabled${note}` }, label: 'set' };
  const canary = lastCanary(ctx.input, handler, generation);
  const run: NodeAction = { kind: 'runCanary', handler, generation, timeoutSeconds: rh.spec.canary.timeoutSeconds };
  if (!canary) return { state: { handler, generation, phase: 'Configured', message: `running the canary${note}` }, label: 'remove', action: run };
  if (canary.passed) return { state: { handler, generation, phase: 'Ready', message: `canary passed${note}`, lastCanary: canary }, label: 'set' };
  const state: NodeHandlerState = { handler, generation, phase: 'Failed', message: `canary failed: ${canary.message}${note}`, lastCanary: canary };
  const retryAt = Date.parse(canary.time) + ctx.retryAfterMs;
  if (Number.isNaN(retryAt) || retryAt <= ctx.input.now.getTime()) return { state, label: 'remove', action: run };
  return { state, label: 'remove', retryAt };
}

/**
 * The edge's record, else the one in the BerthNode status (which survives an agent restart). A Pending
 * state carries none, so a reconfigured handler never inherits the canary of what it replaced.
 */
function lastCanary(input: NodeReconcileInput, handler: string, generation: number): CanaryResult | undefined {
  const record = input.canaries.find((c) => c.handler === handler && c.generation === generation);
  if (record) return record.result;
  const reported = input.status?.handlers.find((s) => s.handler === handler);
  return reported && reported.generation === generation && reported.phase !== 'Pending' ? reported.lastCanary : undefined;
}

/** A handler the node should not have: label off, then unconfigure once nothing uses it. */
function removalStep(ctx: Context, handler: string, conf: ConfiguredHandler | undefined): Step {
  if (!conf) return { label: 'remove' };
  const generation = conf.generation;
  const users = podsUsing(handler, ctx.input.pods, ctx.classes);
  if (users.length > 0) return { state: { handler, generation, phase: 'Removing', message: `waiting to unconfigure: ${describeUsers(users)}` }, label: 'remove' };
  if (handlerLabel(handler) in (ctx.input.node.metadata.labels ?? {}))
    return { state: { handler, generation, phase: 'Removing', message: 'unconfiguring once the node label is gone' }, label: 'remove' };
  const failure = ctx.input.failures.find((f) => f.handler === handler && f.operation === 'unconfigure' && f.generation === generation);
  const retryAt = failure ? Date.parse(failure.time) + ctx.retryAfterMs : undefined;
  if (failure && retryAt !== undefined && retryAt > ctx.input.now.getTime())
    return { state: { handler, generation, phase: 'Removing', message: `unconfigure failed: ${failure.message}; retrying` }, label: 'remove', retryAt };
  return { state: { handler, generation, phase: 'Removing', message: 'unconfiguring' }, label: 'remove', action: { kind: 'unconfigureHandler', handler } };
}

function nodeStatus(input: NodeReconcileInput, states: readonly NodeHandlerState[]): BerthNodeStatus {
  return { ...input.facts, handlers: states, conditions: conditionsFrom(input.status?.conditions, [...(input.nodeConditions ?? []), handlersReady(states)], input.now) };
}

/** About the handlers the node should have; one being removed does not count against it. */
function handlersReady(all: readonly NodeHandlerState[]): ConditionSpec {
  const states = all.filter((s) => s.phase !== 'Removing');
  const failed = states.filter((s) => s.phase === 'Failed').map((s) => s.handler);
  const waiting = states.filter((s) => s.phase !== 'Ready' && s.phase !== 'Failed').map((s) => `${s.handler} (${s.phase})`);
  if (failed.length > 0) return { type: HANDLERS_READY, status: 'False', reason: 'HandlerFailed', message: `failed: ${failed.join(', ')}` };
  if (waiting.length > 0) return { type: HANDLERS_READY, status: 'False', reason: 'Reconciling', message: `not ready yet: ${waiting.join(', ')}` };
  return { type: HANDLERS_READY, status: 'True', reason: states.length > 0 ? 'AllReady' : 'NoHandlers', message: `${states.length} handler${states.length === 1 ? '' : 's'} ready` };
}
