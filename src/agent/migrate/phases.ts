/**
 * A NodeMigration's state machine as a pure function of (the NodeMigration, what the node's agent observes) →
 * what to do next; the agent carries it out at the edge (issue 09). Two rules make a killed agent safe:
 *   - a phase is recorded before it is acted on: the plan either records the next phase (a status write and
 *     nothing else) or gives the actions of the phase the status already holds;
 *   - every action is idempotent and its result is observed, not remembered: a new agent that finds the status
 *     at Drained simply drains again (evicting what is left), and a Switching it finds half done is finished or,
 *     on failure, undone from the backups the status lists.
 * On failure before anything on the node changed (Preflight) the migration is Failed; after that it rolls back
 * when the policy is Automatic, and stops at Failed (cordoned, for a person to look at) when it is Manual.
 */
import type { Finding, MigrationPhase, NodeMigration } from '../api/migration-types';
import { blockingFindings, mayProceed } from './preflight';

/** What the node's agent observes for the migration, each pass. */
export interface MigrationObserved {
  readonly now: Date;
  readonly node: {
    readonly unschedulable: boolean;
    readonly ready: boolean;
    /** status.nodeInfo.containerRuntimeVersion, e.g. `berth://0.1.0`. */
    readonly containerRuntimeVersion: string;
  };
  /** Pods on the node a drain must still evict (DaemonSet and mirror pods do not count). */
  readonly podsToEvict: number;
  /** The preflight's findings, once it ran in this phase. */
  readonly preflight?: readonly Finding[];
  /** The last failure of the current phase's action (the edge keeps it until the phase changes). */
  readonly failure?: string;
  /** The node's images are in berthd (spec.prePullImages). */
  readonly prePulled?: boolean;
  /** The switch's own result: kubelet restarted on berthd's endpoint (backups recorded first). */
  readonly switched?: boolean;
  /** The rollback's own result: every backup restored, kubelet restarted. */
  readonly restored?: boolean;
}

export type MigrationAction =
  | { readonly kind: 'runPreflight' }
  | { readonly kind: 'cordon' }
  | { readonly kind: 'evictPods' }
  | { readonly kind: 'prePullImages' }
  | { readonly kind: 'switchRuntime' }
  | { readonly kind: 'uncordon' }
  | { readonly kind: 'restoreBackups' };

export type MigrationPlan =
  /** Write status.phase (and a step with this message; findings when given) and do nothing else this pass. */
  | { readonly kind: 'record'; readonly phase: MigrationPhase; readonly message: string; readonly findings?: readonly Finding[] }
  | { readonly kind: 'act'; readonly actions: readonly MigrationAction[] }
  | { readonly kind: 'done' };

/** How long the node may take to come back Ready on berthd after the switch. */
/** How long the node has to be Ready on berthd when spec.verifyTimeoutSeconds is unset. */
export const VERIFY_TIMEOUT_DEFAULT_SECONDS = 300;
const TERMINAL: ReadonlySet<MigrationPhase> = new Set(['Completed', 'RolledBack', 'Failed']);

const record = (phase: MigrationPhase, message: string, findings?: readonly Finding[]): MigrationPlan => ({ kind: 'record', phase, message, ...(findings ? { findings } : {}) });
const act = (...actions: MigrationAction[]): MigrationPlan => ({ kind: 'act', actions });

/** When the current phase was recorded (its last step), to time the drain and the verification against. */
function phaseStarted(m: NodeMigration, phase: MigrationPhase): number | undefined {
  const steps = m.status?.steps ?? [];
  for (let i = steps.length - 1; i >= 0; i--) if (steps[i].phase === phase) return Date.parse(steps[i].time);
  return undefined;
}

/** Where a failure after Preflight leads: back, or stop for a person (Manual). */
function failed(m: NodeMigration, why: string): MigrationPlan {
  return m.spec.rollbackPolicy === 'Automatic' ? record('RollingBack', `${why}; rolling back`) : record('Failed', `${why}; rollback is manual: kubectl berth rollback ${m.spec.node}`);
}

/** Phases after which the node may have changed (a cordon at least), so that undoing means a rollback. */
const CHANGED: ReadonlySet<MigrationPhase> = new Set(['Cordoned', 'Drained', 'Switching', 'Verifying', 'Completed']);

/** spec.rollback asked for: undo what was done, or, when nothing on the node changed, end there. */
function rollbackAsked(m: NodeMigration, phase: MigrationPhase): MigrationPlan | undefined {
  if (phase === 'RollingBack' || phase === 'RolledBack') return undefined;
  const changed = !m.spec.dryRun && (m.status?.steps ?? []).some((s) => CHANGED.has(s.phase));
  return changed ? record('RollingBack', 'rollback asked for (spec.rollback)') : record('RolledBack', 'rollback asked for; nothing on the node had changed');
}

export function planMigration(m: NodeMigration, o: MigrationObserved): MigrationPlan {
  const phase = m.status?.phase ?? 'Pending';
  if (m.spec.rollback) {
    const undo = rollbackAsked(m, phase);
    if (undo) return undo;
  }
  if (TERMINAL.has(phase)) return { kind: 'done' };
  const started = phaseStarted(m, phase) ?? o.now.getTime();
  const elapsed = o.now.getTime() - started;
  switch (phase) {
    case 'Pending':
      return record('Preflight', `checking node ${m.spec.node}`);
    case 'Preflight': {
      if (o.failure) return record('Failed', `preflight could not run: ${o.failure}`);
      if (!o.preflight) return act({ kind: 'runPreflight' });
      const blocking = blockingFindings(o.preflight);
      if (m.spec.dryRun) {
        return record('Completed', `dry run: preflight found ${blocking.length} blocking finding${blocking.length === 1 ? '' : 's'}${blocking.length ? ` (${blocking.map((f) => f.check).join(', ')})` : ''}; nothing on the node changed`, o.preflight);
      }
      if (!mayProceed(o.preflight, m.spec.force)) {
        return record('Failed', `preflight: ${blocking.length} blocking finding${blocking.length === 1 ? '' : 's'} (${blocking.map((f) => f.check).join(', ')}); fix them or set spec.force`, o.preflight);
      }
      return record('Cordoned', blocking.length ? `preflight: ${blocking.length} blocking, forced` : 'preflight passed', o.preflight);
    }
    case 'Cordoned':
      if (o.failure) return failed(m, `cordon failed: ${o.failure}`);
      return o.node.unschedulable ? record('Drained', 'cordoned; draining') : act({ kind: 'cordon' });
    case 'Drained':
      if (o.podsToEvict > 0) {
        if (elapsed > m.spec.drain.timeoutSeconds * 1000) return failed(m, `drain: ${o.podsToEvict} pod(s) not evicted within ${m.spec.drain.timeoutSeconds} s${o.failure ? ` (${o.failure})` : ''}`);
        return act({ kind: 'evictPods' });
      }
      // A failed pre-pull only costs the pods a slower start: go on without it.
      if (m.spec.prePullImages && !o.prePulled && o.failure === undefined) return act({ kind: 'prePullImages' });
      return record('Switching', `drained${m.spec.prePullImages ? (o.prePulled ? ', images pre-pulled' : `, images not pre-pulled (${o.failure})`) : ''}; switching kubelet to berthd`);
    case 'Switching':
      if (o.failure) return failed(m, `switch failed: ${o.failure}`);
      return o.switched ? record('Verifying', 'kubelet restarted on berthd; waiting for the node') : act({ kind: 'switchRuntime' });
    case 'Verifying': {
      const onBerth = o.node.ready && o.node.containerRuntimeVersion.startsWith('berth://');
      if (onBerth) return o.node.unschedulable ? act({ kind: 'uncordon' }) : record('Completed', `node Ready on ${o.node.containerRuntimeVersion}`);
      const limit = m.spec.verifyTimeoutSeconds ?? VERIFY_TIMEOUT_DEFAULT_SECONDS;
      if (elapsed > limit * 1000) {
        return failed(m, `the node is not Ready on berthd after ${limit} s (${o.node.ready ? `runtime ${o.node.containerRuntimeVersion || 'unknown'}` : 'NotReady'})`);
      }
      return act();
    }
    case 'RollingBack':
      if (o.failure) return record('Failed', `rollback failed: ${o.failure}`);
      if (!o.restored) return act({ kind: 'restoreBackups' });
      return o.node.unschedulable ? act({ kind: 'uncordon' }) : record('RolledBack', 'every file restored, kubelet back on its runtime, node uncordoned');
  }
  return { kind: 'done' };
}
