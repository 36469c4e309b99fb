/**
 * `kubectl berth migrate NODE`: creates the NodeMigration named after the node, with the spec from the flags;
 * the node's agent does the rest. An existing one is never replaced: a finished one must be deleted (or rolled
 * back) first, one in progress is only followed (--watch).
 */
import type { NodeMigration } from '../agent';
import { alreadyExists, asBerthError, notFound, precondition } from '../common/errors';
import type { PluginApi } from './api';
import type { MigrationSettings } from './flags';
import { follow } from './follow';
import { isTerminal, lastMessage, phaseOf } from './phases';
import type { Output, ProgressDisplay } from './progress';

export interface MigrateOptions {
  readonly settings: MigrationSettings;
  readonly watch: boolean;
  readonly display: ProgressDisplay;
  readonly out: Output;
  readonly signal?: AbortSignal;
  /** Between polls; default POLL_MS (tests shorten it). */
  readonly pollMs?: number;
}

/** The error for a node whose NodeMigration already ended: what it ended as, and the way on. */
export function finishedError(node: string, m: NodeMigration) {
  const phase = phaseOf(m);
  const undo = phase === 'RolledBack' ? '' : `; to undo it, kubectl berth rollback ${node}`;
  return precondition(`nodemigration.berth.dev/${node} already exists and ended ${phase}: to migrate again, kubectl delete nodemigration ${node} and retry${undo}`);
}

export async function runMigrate(api: PluginApi, node: string, o: MigrateOptions): Promise<number> {
  if (!(await api.getNode(node))) throw notFound(`node "${node}" not found`);
  let m = await api.getMigration(node);
  if (!m) {
    try {
      m = await api.createMigration(node, node, o.settings);
      o.out.write(`nodemigration.berth.dev/${node} created\n`);
    } catch (err) {
      // Someone else created it between our read and our create: treat it as the existing one.
      if (asBerthError(err).kind !== 'AlreadyExists') throw err;
      m = await api.getMigration(node);
      if (!m) throw err;
    }
  } else if (isTerminal(phaseOf(m))) {
    throw finishedError(node, m);
  } else if (!o.watch) {
    throw alreadyExists(`nodemigration.berth.dev/${node} is already in progress (${phaseOf(m)}): kubectl berth migrate ${node} --watch follows it`);
  } else {
    o.out.write(`nodemigration.berth.dev/${node} is already in progress (${phaseOf(m)}); watching it\n`);
  }
  if (!o.watch) return 0;
  return outcome(await follow(api, node, o.display, o.signal, o.pollMs), 'Completed', o.out);
}

/** Exit 0 when the migration ended as hoped; otherwise 1, with its last step's message. */
export function outcome(m: NodeMigration, hoped: string, out: Output): number {
  const phase = phaseOf(m);
  if (phase === hoped) return 0;
  out.write(`nodemigration.berth.dev/${m.metadata.name} ended ${phase}: ${lastMessage(m) || 'no message'}\n`);
  return 1;
}
