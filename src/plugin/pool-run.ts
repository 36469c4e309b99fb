/**
 * `kubectl berth migrate --selector SEL`: the plugin drives the pool itself, creating each node's
 * NodeMigration when planPool (pool.ts) says so, and waits for all of them, showing every node's progress.
 */
import type { MigrationPhase, NodeMigration } from '../agent';
import { asBerthError, notFound, precondition } from '../common/errors';
import type { PluginApi } from './api';
import type { MigrationSettings } from './flags';
import { isTerminal, phaseOf } from './phases';
import { planPool } from './pool';
import type { Output, ProgressDisplay } from './progress';
import { POLL_MS, sleep } from './wait';

export interface PoolOptions {
  readonly maxUnavailable: number;
  readonly settings: MigrationSettings;
  readonly display: ProgressDisplay;
  readonly out: Output;
  readonly signal?: AbortSignal;
  /** Between polls; default POLL_MS (tests shorten it). */
  readonly pollMs?: number;
}

export async function runPool(api: PluginApi, selector: string, o: PoolOptions): Promise<number> {
  const nodes = (await api.listNodes(selector)).sort((a, b) => (a.name < b.name ? -1 : 1));
  if (nodes.length === 0) throw notFound(`no node matches --selector ${selector}`);
  const onBerth = nodes.filter((n) => n.runtime.startsWith('berth://'));
  const pool = nodes.filter((n) => !onBerth.includes(n)).map((n) => n.name);
  for (const n of onBerth) o.display.note(`${n.name}: runs ${n.runtime} already, skipped`);

  const migrations = new Map<string, NodeMigration>();
  for (const name of pool) {
    const m = await api.getMigration(name);
    if (m) migrations.set(name, m);
  }
  const finished = [...migrations.values()].filter((m) => isTerminal(phaseOf(m)) && phaseOf(m) !== 'Completed');
  if (finished.length) {
    throw precondition(`these nodes have a NodeMigration that ended unsuccessfully: ${finished.map((m) => `${m.metadata.name} (${phaseOf(m)})`).join(', ')}; `
      + 'kubectl delete nodemigration NODE (or kubectl berth rollback NODE) first');
  }
  const phases = new Map<string, MigrationPhase>([...migrations].map(([n, m]) => [n, phaseOf(m)]));
  for (;;) {
    const plan = planPool(pool, phases, o.maxUnavailable);
    for (const node of plan.start) {
      const m = await create(api, node, o.settings);
      migrations.set(node, m);
      phases.set(node, phaseOf(m));
    }
    o.display.update(pool.map((node) => ({ node, migration: migrations.get(node) })));
    if (plan.done) return summary(pool, phases, plan.notStarted, o.out);
    await sleep(o.pollMs ?? POLL_MS, o.signal);
    for (const [node, phase] of phases) {
      if (isTerminal(phase)) continue;
      const m = await api.getMigration(node);
      if (!m) throw notFound(`nodemigration ${node} was deleted while the pool was migrating`);
      migrations.set(node, m);
      phases.set(node, phaseOf(m));
    }
  }
}

async function create(api: PluginApi, node: string, settings: MigrationSettings): Promise<NodeMigration> {
  try {
    return await api.createMigration(node, node, settings);
  } catch (err) {
    // Created meanwhile by someone else: follow that one.
    const existing = asBerthError(err).kind === 'AlreadyExists' ? await api.getMigration(node) : undefined;
    if (!existing) throw err;
    return existing;
  }
}

function summary(pool: readonly string[], phases: ReadonlyMap<string, MigrationPhase>, notStarted: readonly string[], out: Output): number {
  const by = (p: MigrationPhase) => pool.filter((n) => phases.get(n) === p);
  const failed = [...by('Failed'), ...by('RolledBack')].sort();
  const lines = [`pool: ${by('Completed').length} of ${pool.length} nodes completed`];
  if (failed.length) lines.push(`failed: ${failed.map((n) => `${n} (${phases.get(n)})`).join(', ')}`);
  if (notStarted.length) lines.push(`not started, after the failure: ${notStarted.join(', ')}`);
  out.write(`${lines.join('\n')}\n`);
  return failed.length === 0 && notStarted.length === 0 ? 0 : 1;
}
