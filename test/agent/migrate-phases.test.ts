/**
 * The NodeMigration state machine (src/agent/migrate/phases.ts): each phase is recorded before it is acted on,
 * each phase's actions repeat until their effect is observed, failures after preflight roll back (Automatic)
 * or stop (Manual), and an agent killed between acting and recording does not act twice.
 */
import { describe, expect, test } from '@jest/globals';
import type { Finding, MigrationPhase, NodeMigration } from '../../src/agent/api/migration-types';
import { parseNodeMigration } from '../../src/agent/api/validate-migration';
import { planMigration, VERIFY_TIMEOUT_DEFAULT_SECONDS, type MigrationAction, type MigrationObserved } from '../../src/agent/migrate/phases';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function migration(spec: Record<string, unknown> = {}): NodeMigration {
  return parseNodeMigration({ apiVersion: 'berth.dev/v1alpha1', kind: 'NodeMigration', metadata: { name: 'm', generation: 1 }, spec: { node: 'n1', ...spec } });
}

/** The migration with status.phase recorded at `at` (a step appended, as the edge writes it). */
function recorded(m: NodeMigration, phase: MigrationPhase, at: number): NodeMigration {
  const st = m.status ?? { conditions: [], steps: [], findings: [], backups: [] };
  return { ...m, status: { ...st, phase, steps: [...st.steps, { phase, time: new Date(at).toISOString(), message: '' }] } };
}

const observed = (o: Partial<MigrationObserved> = {}): MigrationObserved => ({
  now: new Date(T0), node: { unschedulable: false, ready: true, containerRuntimeVersion: 'docker://25.0.0' }, podsToEvict: 0, ...o,
});
const blocking: Finding = { check: 'DockerSocketMount', severity: 'Blocking', message: 'pod default/ci mounts /var/run/docker.sock', objects: [{ kind: 'Pod', namespace: 'default', name: 'ci' }] };
const info: Finding = { check: 'Berthd', severity: 'Info', message: 'berthd 0.1.0 healthy', objects: [] };

describe('one phase at a time', () => {
  test('a new migration records Pending → Preflight, then runs the preflight', () => {
    const m = migration();
    expect(planMigration(m, observed())).toMatchObject({ kind: 'record', phase: 'Preflight' });
    expect(planMigration(recorded(m, 'Preflight', T0), observed())).toEqual({ kind: 'act', actions: [{ kind: 'runPreflight' }] });
  });

  test('preflight: a blocking finding fails it (nothing changed yet, so no rollback), naming the check; force goes on', () => {
    const at = recorded(migration(), 'Preflight', T0);
    const plan = planMigration(at, observed({ preflight: [blocking, info] }));
    expect(plan).toMatchObject({ kind: 'record', phase: 'Failed', message: expect.stringContaining('DockerSocketMount'), findings: [blocking, info] });
    const forced = recorded(migration({ force: true }), 'Preflight', T0);
    expect(planMigration(forced, observed({ preflight: [blocking] }))).toMatchObject({ kind: 'record', phase: 'Cordoned', message: expect.stringContaining('forced') });
    expect(planMigration(at, observed({ preflight: [info] }))).toMatchObject({ kind: 'record', phase: 'Cordoned', findings: [info] });
  });

  test('cordon until the node is unschedulable; evict until no pod is left, then switch', () => {
    const m = migration();
    expect(planMigration(recorded(m, 'Cordoned', T0), observed())).toEqual({ kind: 'act', actions: [{ kind: 'cordon' }] });
    expect(planMigration(recorded(m, 'Cordoned', T0), observed({ node: { unschedulable: true, ready: true, containerRuntimeVersion: '' } }))).toMatchObject({ kind: 'record', phase: 'Drained' });
    expect(planMigration(recorded(m, 'Drained', T0), observed({ podsToEvict: 2 }))).toEqual({ kind: 'act', actions: [{ kind: 'evictPods' }] });
    expect(planMigration(recorded(m, 'Drained', T0), observed())).toMatchObject({ kind: 'record', phase: 'Switching' });
  });

  test('a drain that outlasts its timeout fails, and rolls back under the default policy', () => {
    const m = recorded(migration({ drain: { timeoutSeconds: 60 } }), 'Drained', T0);
    expect(planMigration(m, observed({ podsToEvict: 1, now: new Date(T0 + 59_000) }))).toEqual({ kind: 'act', actions: [{ kind: 'evictPods' }] });
    expect(planMigration(m, observed({ podsToEvict: 1, now: new Date(T0 + 61_000), failure: 'Cannot evict pod as it would violate the pod\'s disruption budget' })))
      .toMatchObject({ kind: 'record', phase: 'RollingBack', message: expect.stringContaining('disruption budget') });
  });

  test('pre-pull when asked, before the switch; a failed pre-pull does not stop the migration', () => {
    const m = recorded(migration({ prePullImages: true }), 'Drained', T0);
    expect(planMigration(m, observed())).toEqual({ kind: 'act', actions: [{ kind: 'prePullImages' }] });
    expect(planMigration(m, observed({ prePulled: true }))).toMatchObject({ kind: 'record', phase: 'Switching', message: expect.stringContaining('pre-pulled') });
    expect(planMigration(m, observed({ failure: 'registry down' }))).toMatchObject({ kind: 'record', phase: 'Switching', message: expect.stringContaining('registry down') });
  });

  test('verify: Ready on berth:// → uncordon → Completed; not within the timeout → roll back', () => {
    const m = recorded(migration(), 'Verifying', T0);
    const onBerth = { ready: true, containerRuntimeVersion: 'berth://0.1.0' };
    expect(planMigration(m, observed({ node: { ...onBerth, unschedulable: true } }))).toEqual({ kind: 'act', actions: [{ kind: 'uncordon' }] });
    expect(planMigration(m, observed({ node: { ...onBerth, unschedulable: false } }))).toMatchObject({ kind: 'record', phase: 'Completed' });
    const stuck = { ready: false, containerRuntimeVersion: '', unschedulable: true };
    expect(planMigration(m, observed({ node: stuck, now: new Date(T0 + 10_000) }))).toEqual({ kind: 'act', actions: [] });
    expect(planMigration(m, observed({ node: stuck, now: new Date(T0 + VERIFY_TIMEOUT_DEFAULT_SECONDS * 1000 - 1) }))).toEqual({ kind: 'act', actions: [] });
    expect(planMigration(m, observed({ node: stuck, now: new Date(T0 + VERIFY_TIMEOUT_DEFAULT_SECONDS * 1000 + 1) }))).toMatchObject({ kind: 'record', phase: 'RollingBack', message: expect.stringContaining('NotReady') });
    // spec.verifyTimeoutSeconds shortens (or lengthens) the wait.
    const short = recorded(migration({ verifyTimeoutSeconds: 20 }), 'Verifying', T0);
    expect(planMigration(short, observed({ node: stuck, now: new Date(T0 + 19_000) }))).toEqual({ kind: 'act', actions: [] });
    expect(planMigration(short, observed({ node: stuck, now: new Date(T0 + 21_000) }))).toMatchObject({ kind: 'record', phase: 'RollingBack', message: expect.stringContaining('not Ready on berthd after 20 s') });
  });

  test('Manual policy: a failure stops at Failed and says how to roll back', () => {
    const m = recorded(migration({ rollbackPolicy: 'Manual' }), 'Switching', T0);
    expect(planMigration(m, observed({ failure: 'kubelet did not restart' }))).toMatchObject({ kind: 'record', phase: 'Failed', message: expect.stringContaining('kubectl berth rollback n1') });
  });

  test('rolling back: restore, uncordon, RolledBack; a failed restore is Failed; terminal phases do nothing', () => {
    const m = recorded(migration(), 'RollingBack', T0);
    const cordoned = { unschedulable: true, ready: true, containerRuntimeVersion: 'docker://25.0.0' };
    expect(planMigration(m, observed({ node: cordoned }))).toEqual({ kind: 'act', actions: [{ kind: 'restoreBackups' }] });
    expect(planMigration(m, observed({ node: cordoned, restored: true }))).toEqual({ kind: 'act', actions: [{ kind: 'uncordon' }] });
    expect(planMigration(m, observed({ restored: true }))).toMatchObject({ kind: 'record', phase: 'RolledBack' });
    expect(planMigration(m, observed({ failure: 'backup missing' }))).toMatchObject({ kind: 'record', phase: 'Failed' });
    for (const p of ['Completed', 'RolledBack', 'Failed'] as const) expect(planMigration(recorded(migration(), p, T0), observed())).toEqual({ kind: 'done' });
  });
});

/**
 * A node and an edge in memory: each pass's plan is carried out (a record writes the status; actions change the
 * node); each pass starts from the status and the node alone, as a new agent would.
 */
function simulate(o: { failSwitch?: boolean }): { phases: MigrationPhase[]; actions: MigrationAction['kind'][] } {
  let m = migration();
  const node = { unschedulable: false, ready: true, containerRuntimeVersion: 'docker://25.0.0', pods: 3, switched: false, restored: false, checked: false };
  const phases: MigrationPhase[] = [];
  const actions: MigrationAction['kind'][] = [];
  let now = T0;
  for (let pass = 0; pass < 50; pass++) {
    now += 1000;
    const plan = planMigration(m, {
      now: new Date(now), node, podsToEvict: node.pods, preflight: node.checked ? [info] : undefined,
      switched: node.switched, restored: node.restored, failure: o.failSwitch && m.status?.phase === 'Switching' && actions.includes('switchRuntime') ? 'kubelet failed' : undefined,
    });
    if (plan.kind === 'done') break;
    if (plan.kind === 'record') {
      m = recorded(m, plan.phase, now);
      phases.push(plan.phase);
    } else {
      for (const a of plan.actions) {
        actions.push(a.kind);
        if (a.kind === 'runPreflight') node.checked = true;
        if (a.kind === 'cordon') node.unschedulable = true;
        if (a.kind === 'uncordon') node.unschedulable = false;
        if (a.kind === 'evictPods') node.pods = Math.max(0, node.pods - 2);
        if (a.kind === 'switchRuntime' && !o.failSwitch) Object.assign(node, { switched: true, containerRuntimeVersion: 'berth://0.1.0' });
        if (a.kind === 'restoreBackups') Object.assign(node, { restored: true, containerRuntimeVersion: 'docker://25.0.0' });
      }
    }
  }
  return { phases, actions };
}

describe('whole runs', () => {
  test('a migration goes through every phase in order and ends Completed, uncordoned', () => {
    const run = simulate({});
    expect(run.phases).toEqual(['Preflight', 'Cordoned', 'Drained', 'Switching', 'Verifying', 'Completed']);
    expect(run.actions).toEqual(['runPreflight', 'cordon', 'evictPods', 'evictPods', 'switchRuntime', 'uncordon']);
  });

  test('a switch that fails rolls back, each action once, and ends RolledBack', () => {
    const run = simulate({ failSwitch: true });
    expect(run.phases).toEqual(['Preflight', 'Cordoned', 'Drained', 'Switching', 'RollingBack', 'RolledBack']);
    expect(run.actions.filter((a) => a === 'restoreBackups')).toHaveLength(1);
    expect(run.actions.at(-1)).toBe('uncordon');
  });

  test('an agent killed after acting and before recording: the next one sees the effect and records, it does not act again', () => {
    const switching = recorded(migration(), 'Switching', T0);
    expect(planMigration(switching, observed({ switched: true }))).toMatchObject({ kind: 'record', phase: 'Verifying' });
    const cordoned = recorded(migration(), 'Cordoned', T0);
    expect(planMigration(cordoned, observed({ node: { unschedulable: true, ready: true, containerRuntimeVersion: '' } }))).toMatchObject({ kind: 'record', phase: 'Drained' });
  });
});

describe('dry runs and asked-for rollbacks', () => {
  test('a dry run ends Completed after the preflight, with the findings, blocking or not', () => {
    const at = recorded(migration({ dryRun: true }), 'Preflight', T0);
    expect(planMigration(at, observed({ preflight: [blocking, info] }))).toMatchObject({ kind: 'record', phase: 'Completed', message: expect.stringContaining('1 blocking finding (DockerSocketMount)'), findings: [blocking, info] });
    expect(planMigration(at, observed({ preflight: [info] }))).toMatchObject({ kind: 'record', phase: 'Completed', message: expect.stringContaining('nothing on the node changed') });
  });

  test('spec.rollback after a change rolls back, from any phase, Completed included; before one it just ends', () => {
    let m = recorded(recorded(migration({ rollback: true }), 'Preflight', T0), 'Cordoned', T0);
    for (const phase of ['Drained', 'Switching', 'Verifying', 'Completed', 'Failed'] as const) {
      m = recorded(m, phase, T0);
      expect(planMigration(m, observed())).toMatchObject({ kind: 'record', phase: 'RollingBack' });
    }
    expect(planMigration(recorded(m, 'RollingBack', T0), observed())).toEqual({ kind: 'act', actions: [{ kind: 'restoreBackups' }] });
    expect(planMigration(recorded(m, 'RolledBack', T0), observed())).toEqual({ kind: 'done' });
    const early = recorded(migration({ rollback: true }), 'Preflight', T0);
    expect(planMigration(early, observed())).toMatchObject({ kind: 'record', phase: 'RolledBack' });
    expect(planMigration(recorded(recorded(migration({ rollback: true, dryRun: true }), 'Preflight', T0), 'Completed', T0), observed())).toMatchObject({ kind: 'record', phase: 'RolledBack' });
  });
});
