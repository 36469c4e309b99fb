/**
 * `kubectl berth rollback NODE`: sets spec.rollback on the node's NodeMigration (a merge patch); the node's
 * agent restores what it changed and ends RolledBack.
 */
import { notFound, precondition } from '../common/errors';
import type { PluginApi } from './api';
import { follow } from './follow';
import { outcome } from './migrate';
import { phaseOf } from './phases';
import type { Output, ProgressDisplay } from './progress';

export interface RollbackOptions {
  readonly watch: boolean;
  readonly display: ProgressDisplay;
  readonly out: Output;
  readonly signal?: AbortSignal;
  /** Between polls; default POLL_MS (tests shorten it). */
  readonly pollMs?: number;
}

export async function runRollback(api: PluginApi, node: string, o: RollbackOptions): Promise<number> {
  const m = await api.getMigration(node);
  if (!m) throw notFound(`node ${node} has no NodeMigration named ${node}`);
  if (phaseOf(m) === 'RolledBack') throw precondition(`nodemigration.berth.dev/${node} is RolledBack already`);
  await api.requestRollback(node);
  o.out.write(`nodemigration.berth.dev/${node} rollback requested\n`);
  if (!o.watch) return 0;
  // Completed (or a Manual policy's Failed) is where a rollback starts from: it ends RolledBack, or Failed anew.
  const before = m.status?.steps.length ?? 0;
  const end = await follow(api, node, o.display, o.signal, o.pollMs, (x) => phaseOf(x) === 'RolledBack' || (phaseOf(x) === 'Failed' && (x.status?.steps.length ?? 0) > before));
  return outcome(end, 'RolledBack', o.out);
}
