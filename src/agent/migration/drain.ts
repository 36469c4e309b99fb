/**
 * The drain's I/O: which pods are left to go (migrate/drain-plan.ts decides) and their evictions through the
 * Eviction API, which honours PodDisruptionBudgets: a 429 is the budget saying "not now", retried on the next
 * pass until the drain's timeout (phases.ts). A pod already being deleted is waited for, not evicted again.
 */
import { ApiError } from '../kube/client';
import type { DrainOptions } from '../api/migration-types';
import { planDrain, type DrainPlan } from '../migrate/drain-plan';
import { parsePodFacts } from '../migrate/pod-facts';
import type { MigrationContext } from './context';
import { podsOnNode } from './facts';

export interface DrainState {
  readonly plan: DrainPlan;
  /** Pods evicted already and still terminating. */
  readonly terminating: number;
}

/** The pods the drain still waits for: to evict, refused (they stop it until the timeout), or terminating. */
export async function drainState(c: MigrationContext, o: DrainOptions): Promise<DrainState & { readonly left: number }> {
  const raw = await podsOnNode(c);
  const deleting = new Set<string>();
  const pods = raw.flatMap((p) => {
    try {
      const f = parsePodFacts(p);
      const meta = (p as { metadata?: { deletionTimestamp?: string } }).metadata;
      if (meta?.deletionTimestamp) deleting.add(`${f.namespace}/${f.name}`);
      return [f];
    } catch {
      return [];
    }
  });
  const plan = planDrain(pods, o);
  const isDeleting = (r: { namespace?: string; name: string }) => deleting.has(`${r.namespace}/${r.name}`);
  const evict = plan.evict.filter((r) => !isDeleting(r));
  const terminating = plan.evict.length - evict.length;
  return { plan: { ...plan, evict }, terminating, left: plan.evict.length + plan.refused.length };
}

/** Evicts each pod of the plan; throws (for the phase's failure) naming the pods a budget or the plan held back. */
export async function evictPods(c: MigrationContext, state: DrainState, o: DrainOptions): Promise<void> {
  const held: string[] = state.plan.refused.map((r) => `${r.pod.namespace}/${r.pod.name}: ${r.why}`);
  for (const p of state.plan.evict) {
    const body = {
      apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: p.name, namespace: p.namespace },
      ...(o.gracePeriodSeconds !== undefined ? { deleteOptions: { gracePeriodSeconds: o.gracePeriodSeconds } } : {}),
    };
    try {
      await c.kube.request('POST', `/api/v1/namespaces/${p.namespace}/pods/${p.name}/eviction`, { body });
      c.log.info('pod evicted', { pod: `${p.namespace}/${p.name}` });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) continue;
      if (err instanceof ApiError && err.status === 429) {
        held.push(`${p.namespace}/${p.name}: ${err.message.replace(/^POST \S+: /, '')}`);
        continue;
      }
      throw err;
    }
  }
  if (held.length) throw new Error(`not evicted yet: ${held.join('; ')}`);
}
