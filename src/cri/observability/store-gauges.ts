/**
 * Gauges read from berthd's records when scraped (nothing is kept up to date between scrapes): containers and
 * sandboxes by record state, every state always present (0 when none), and the berth-monitor processes the
 * records imply.
 */
import { Gauge } from 'prom-client';
import type { ContainerRecord, ContainerRecordState, SandboxRecord, SandboxState } from '../store';
import type { BerthdMetrics } from './registry';

const CONTAINER_STATES: readonly ContainerRecordState[] = ['creating', 'created', 'running', 'exited'];
const SANDBOX_STATES: readonly SandboxState[] = ['creating', 'ready', 'notready'];

export interface StoreView {
  containers(): ContainerRecord[];
  sandboxes(): SandboxRecord[];
}

function countBy<S extends string>(states: readonly S[], records: Array<{ state: S }>): Map<S, number> {
  const counts = new Map<S, number>(states.map((s) => [s, 0]));
  for (const r of records) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  return counts;
}

/**
 * berthd does not track berth-monitor processes itself (berth-shim starts and watches them); what its records
 * say is one monitor per created or running container and one per infra container of a ready pod. Exec
 * processes have monitors too and are not counted.
 */
export function expectedMonitors(view: StoreView): number {
  const containers = view.containers().filter((c) => c.state === 'created' || c.state === 'running').length;
  const infra = view.sandboxes().filter((s) => s.state === 'ready' && s.infra !== undefined).length;
  return containers + infra;
}

export function registerStoreGauges(metrics: BerthdMetrics, view: StoreView): void {
  new Gauge({
    name: 'berth_containers',
    help: 'CRI containers in berthd\'s records, by state (creating: CreateContainer under way; created, running, exited as in the CRI).',
    labelNames: ['state'] as const,
    registers: [metrics.registry],
    collect() {
      for (const [state, n] of countBy(CONTAINER_STATES, view.containers())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'berth_sandboxes',
    help: 'Pod sandboxes in berthd\'s records, by state (creating: RunPodSandbox under way; ready; notready: stopped, not yet removed).',
    labelNames: ['state'] as const,
    registers: [metrics.registry],
    collect() {
      for (const [state, n] of countBy(SANDBOX_STATES, view.sandboxes())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'berth_monitors',
    help: 'berth-monitor processes berthd\'s records imply: one per created or running container and one per infra container of a ready pod (berth-shim runs them; monitors of exec processes are not counted).',
    registers: [metrics.registry],
    collect() {
      this.set(expectedMonitors(view));
    },
  });
}
