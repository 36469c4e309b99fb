/**
 * The node's migration loop (issue 09): watches the NodeMigrations for this node (fieldSelector spec.node),
 * asks migrate/phases.ts what to do next and does it. A recorded phase is a status write and nothing else;
 * an action's result is observed on the next pass (the node's schedulability and runtime from a watch of the
 * Node, the pods from a list, kubelet's files from the host), so an agent restarted at any point carries on
 * from the status. What only this process knows (the preflight's findings, the last failure, that the switch
 * or the restore ran to its end) is kept per migration and phase, and is simply redone by a new agent.
 * At rest the loop costs one watch: the Node is watched only while a migration is in progress.
 */
import { ApiError } from '../kube/client';
import type { Finding, MigrationPhase, NodeMigration } from '../api/migration-types';
import { parseNodeState, type NodeState } from '../api/kube-objects';
import { GROUP, VERSION } from '../api/types';
import { nodeMigrationStatusJson, parseNodeMigration } from '../api/validate-migration';
import { WatchCache } from '../kube/watch-cache';
import { planMigration, type MigrationAction, type MigrationObserved } from '../migrate/phases';
import { preflight } from '../migrate/preflight';
import { isTerminal, recordPhase, withBackup } from '../migrate/status';
import { KUBELET_DEFAULT_RUNTIME_ENDPOINT } from '../migrate/endpoint';
import { kubeletFacts, runtimeOf, socketOf } from '../node/kubelet';
import type { MigrationContext } from './context';
import { drainState, evictPods, type DrainState } from './drain';
import { preflightFacts } from './facts';
import { prePullImages } from './pre-pull';
import { carryRegistries, readCarriedRegistries } from './registries';
import { restoreRuntime, switchRuntime, type SwitchReport } from './switch';

const NM_PATH = `/apis/${GROUP}/${VERSION}/nodemigrations`;
const DEBOUNCE_MS = 100;
/** How soon a phase that waits (evictions a budget refused, the node coming back) looks again. */
const RETRY_MS = 2000;

/** What this process learnt about one migration in one phase. */
interface PhaseMemory {
  phase: MigrationPhase;
  preflight?: Finding[];
  failure?: { action: MigrationAction['kind']; message: string };
  prePulled?: boolean;
  switched?: SwitchReport;
  restored?: boolean;
}

export interface MigrationLoopOptions {
  /** After each recorded phase (metrics). */
  onPhase?(m: NodeMigration, phase: MigrationPhase): void;
}

export class MigrationLoop {
  private readonly migrations: WatchCache<NodeMigration>;
  private node: WatchCache<NodeState> | undefined;
  private readonly memory = new Map<string, PhaseMemory>();
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly c: MigrationContext, private readonly o: MigrationLoopOptions = {}) {
    this.migrations = new WatchCache(c.kube, { path: NM_PATH, fieldSelector: `spec.node=${c.nodeName}`, parse: parseNodeMigration, log: c.log, onChange: () => this.schedule() });
  }

  async start(): Promise<void> {
    await this.migrations.start();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    this.migrations.stop();
    this.node?.stop();
    await this.running;
  }

  /** The migration this node works on: the oldest one not finished (or finished and asked to roll back). */
  current(): NodeMigration | undefined {
    const open = this.migrations.items().filter((m) => {
      const phase = m.status?.phase;
      return !isTerminal(phase) || (m.spec.rollback && phase !== 'RolledBack');
    });
    open.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
    return open[0];
  }

  schedule(delayMs = DEBOUNCE_MS): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.pass().catch((err: unknown) => this.c.log.error('migration pass failed', { error: (err as Error).message })).finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
    }, delayMs);
  }

  private async pass(): Promise<void> {
    const m = this.current();
    if (!m) {
      this.node?.stop();
      this.node = undefined;
      return;
    }
    if (!this.node) {
      this.node = new WatchCache(this.c.kube, { path: '/api/v1/nodes', fieldSelector: `metadata.name=${this.c.nodeName}`, parse: parseNodeState, log: this.c.log, onChange: () => this.schedule() });
      await this.node.start();
    }
    const node = this.node.get(this.c.nodeName);
    if (!node) {
      this.c.log.warn('migration waits for its Node object', { migration: m.metadata.name });
      return;
    }
    const phase = m.status?.phase ?? 'Pending';
    const key = m.metadata.uid ?? m.metadata.name;
    let mem = this.memory.get(key);
    if (!mem || mem.phase !== phase) this.memory.set(key, (mem = { phase }));
    const drain = phase === 'Drained' ? await drainState(this.c, m.spec.drain) : undefined;
    const plan = planMigration(m, this.observe(m, node, mem, drain));
    if (plan.kind === 'done') return;
    if (plan.kind === 'record') {
      await this.record(m, plan.phase, plan.message, plan.findings);
      return;
    }
    for (const action of plan.actions) {
      try {
        await this.act(action, m, node, mem, drain);
        if (mem.failure?.action === action.kind) delete mem.failure;
      } catch (err) {
        const message = (err as Error).message;
        mem.failure = { action: action.kind, message };
        this.c.log.warn('migration step failed', { migration: m.metadata.name, phase, action: action.kind, error: message });
        break;
      }
    }
    // Actions show their effect through the watches, the pods or the host: look again soon in any case.
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.schedule(), plan.actions.length ? DEBOUNCE_MS * 5 : RETRY_MS);
    this.retry.unref();
  }

  private observe(m: NodeMigration, node: NodeState, mem: PhaseMemory, drain: (DrainState & { left: number }) | undefined): MigrationObserved {
    // An eviction's failure only matters while pods are left; the pre-pull's is the phase's once they are gone.
    const failure = mem.failure && !(drain && drain.left === 0 && mem.failure.action === 'evictPods') ? mem.failure.message : undefined;
    return {
      now: new Date(),
      node: { unschedulable: node.unschedulable, ready: node.ready, containerRuntimeVersion: node.containerRuntimeVersion },
      podsToEvict: drain?.left ?? 0,
      ...(mem.preflight ? { preflight: mem.preflight } : {}),
      ...(failure !== undefined ? { failure } : {}),
      ...(mem.prePulled ? { prePulled: true } : {}),
      ...(mem.switched ? { switched: true } : {}),
      ...(mem.restored ? { restored: true } : {}),
    };
  }

  private async act(action: MigrationAction, m: NodeMigration, node: NodeState, mem: PhaseMemory, drain: DrainState | undefined): Promise<void> {
    switch (action.kind) {
      case 'runPreflight':
        mem.preflight = preflight(await preflightFacts(this.c, node));
        return;
      case 'cordon':
      case 'uncordon':
        await this.c.kube.request('PATCH', `/api/v1/nodes/${this.c.nodeName}`, { body: { spec: { unschedulable: action.kind === 'cordon' ? true : null } } });
        return;
      case 'evictPods':
        if (drain) await evictPods(this.c, drain, m.spec.drain);
        return;
      case 'prePullImages': {
        const endpoint = kubeletFacts(this.c.host).runtimeEndpoint || KUBELET_DEFAULT_RUNTIME_ENDPOINT;
        // berthd pulls through the node's mirrors and with its credentials from the first image on.
        await carryRegistries(this.c, readCarriedRegistries(this.c, runtimeOf(endpoint)));
        await prePullImages(this.c, socketOf(endpoint, this.c.host), this.c.layout.agent.socket);
        mem.prePulled = true;
        return;
      }
      case 'switchRuntime':
        mem.switched = await switchRuntime(this.c, m, node, (b) => this.patchStatus(m, withBackup(m, b)).then((fresh) => {
          m = fresh;
        }));
        return;
      case 'restoreBackups':
        await restoreRuntime(this.c, m, node);
        mem.restored = true;
        return;
    }
  }

  /** Writes the status, only over the version this pass read (a 409 means another writer: the next pass re-reads). */
  private async patchStatus(m: NodeMigration, status: NonNullable<NodeMigration['status']>): Promise<NodeMigration> {
    const body = await this.c.kube.request('PATCH', `${NM_PATH}/${m.metadata.name}/status`, {
      body: { metadata: { resourceVersion: m.metadata.resourceVersion }, status: nodeMigrationStatusJson(status) },
    });
    return parseNodeMigration(body);
  }

  private async record(m: NodeMigration, phase: MigrationPhase, message: string, findings?: readonly Finding[]): Promise<void> {
    const mem = this.memory.get(m.metadata.uid ?? m.metadata.name);
    // A switch's step says what it carried over and what it could not.
    const report = phase === 'Verifying' && mem?.switched ? mem.switched : undefined;
    const full = report ? `${message}; registries carried: ${report.carried.join(', ') || 'none configured'}${report.notCarried.length ? `; not carried: ${report.notCarried.join('; ')}` : ''}${report.stopped.length ? `; stopped ${report.stopped.join(', ')}` : ''}` : message;
    try {
      await this.patchStatus(m, recordPhase(m, phase, full, new Date(), findings));
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return;
      throw err;
    }
    this.c.log.info('migration phase', { migration: m.metadata.name, phase, message: full });
    this.o.onPhase?.(m, phase);
  }
}
