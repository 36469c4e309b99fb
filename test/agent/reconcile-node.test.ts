/** node.ts: one node's agent, rule by rule, against the tiny simulator of reconcile-sim.ts. */
import type { NodeHandlerState, RuntimeHandler } from '../../src/agent/api/types';
import { handlerLabel } from '../../src/agent/api/types';
import type { NodeAction } from '../../src/agent/reconcile/actions';
import { reconcileNode, DEFAULT_RETRY_AFTER_MS, HANDLERS_READY } from '../../src/agent/reconcile/node';
import { NodeSim, T0, later, pod, runtimeHandler } from './reconcile-sim';

const LABEL = handlerLabel('fast');
const kinds = (actions: readonly NodeAction[]): string[] => actions.map((a) => a.kind);
const stateOf = (sim: NodeSim, handler = 'fast'): NodeHandlerState | undefined => sim.status?.handlers.find((h) => h.handler === handler);

/** Reconcile and apply until nothing is left to do; fails if that takes more than `max` rounds. */
function converge(sim: NodeSim, rhs: readonly RuntimeHandler[], now = T0, classes: Record<string, string> = {}, max = 8): NodeAction[][] {
  const rounds: NodeAction[][] = [];
  for (let i = 0; i < max; i++) {
    const { actions } = reconcileNode(sim.input(rhs, now, classes));
    if (actions.length === 0) return rounds;
    rounds.push([...actions]);
    sim.apply(actions, now);
  }
  throw new Error(`no steady state after ${max} rounds: ${JSON.stringify(rounds.at(-1))}`);
}

/** A node that has `fast` at generation `gen`, canary passed, labelled. */
function readyNode(rh: RuntimeHandler, name = 'n1'): NodeSim {
  const sim = new NodeSim(name, { pool: 'a' });
  converge(sim, [rh]);
  expect(stateOf(sim)?.phase).toBe('Ready');
  return sim;
}

describe('reconcileNode: configuring', () => {
  test('a new handler whose selector matches is configured at once, canaried, then labelled; then nothing is left to do', () => {
    const rh = runtimeHandler('fast', { spec: { nodeSelector: { pool: 'a' }, runtime: { type: 'crun', systemdCgroup: true } } });
    const sim = new NodeSim('n1', { pool: 'a' });
    const rounds = converge(sim, [rh]);
    expect(rounds.map(kinds)).toEqual([['configureHandler', 'writeBerthNodeStatus'], ['runCanary', 'writeBerthNodeStatus'], ['setNodeLabel', 'writeBerthNodeStatus']]);
    expect(rounds[0][0]).toEqual({ kind: 'configureHandler', handler: 'fast', runtimeHandler: 'fast', uid: 'uid-fast', generation: 1, runtime: { type: 'crun', systemdCgroup: true } });
    expect(rounds[1][0]).toEqual({ kind: 'runCanary', handler: 'fast', generation: 1, timeoutSeconds: 30 });
    expect(sim.labels[LABEL]).toBe('ready');
    expect(stateOf(sim)).toMatchObject({ handler: 'fast', generation: 1, phase: 'Ready', lastCanary: { passed: true } });
    expect(sim.status?.conditions.find((c) => c.type === HANDLERS_READY)?.status).toBe('True');
    // No action repeated on the way: each one took effect.
    const done = sim.log.filter((a) => a.kind !== 'writeBerthNodeStatus').map((a) => JSON.stringify(a));
    expect(new Set(done).size).toBe(done.length);
  });

  test('the status written first says Pending, then Configured, then Ready', () => {
    const rh = runtimeHandler('fast');
    const sim = new NodeSim('n1');
    const phases: string[] = [];
    for (let i = 0; i < 3; i++) {
      sim.apply(reconcileNode(sim.input([rh], T0)).actions, T0);
      phases.push(stateOf(sim)?.phase ?? '-');
    }
    expect(phases).toEqual(['Pending', 'Configured', 'Ready']);
  });

  test('a selector that does not match: nothing configured, the status lists no handler', () => {
    const sim = new NodeSim('n1', { pool: 'b' });
    const rounds = converge(sim, [runtimeHandler('fast', { spec: { nodeSelector: { pool: 'a' } } })]);
    expect(rounds.map(kinds)).toEqual([['writeBerthNodeStatus']]);
    expect(sim.status?.handlers).toEqual([]);
    expect(sim.configured).toEqual([]);
  });

  test('a selector key that is missing from the node does not match, even with an empty value', () => {
    const sim = new NodeSim('n1', {});
    converge(sim, [runtimeHandler('fast', { spec: { nodeSelector: { pool: '' } } })]);
    expect(sim.configured).toEqual([]);
  });

  test('canary disabled: labelled right after configuring', () => {
    const sim = new NodeSim('n1');
    const rounds = converge(sim, [runtimeHandler('fast', { spec: { canary: { enabled: false, timeoutSeconds: 30 } } })]);
    expect(rounds.map(kinds)).toEqual([['configureHandler', 'writeBerthNodeStatus'], ['setNodeLabel', 'writeBerthNodeStatus']]);
    expect(stateOf(sim)?.phase).toBe('Ready');
  });

  test('a steady state yields zero actions, also as time goes by', () => {
    const rh = runtimeHandler('fast');
    const sim = readyNode(rh);
    for (const t of [T0, later(T0, 1000), later(T0, 10 * DEFAULT_RETRY_AFTER_MS)]) {
      const plan = reconcileNode(sim.input([rh], t));
      expect(plan.actions).toEqual([]);
      expect(plan.requeueAfterMs).toBeUndefined();
    }
  });

  test('a status that differs only in condition order is not rewritten', () => {
    const rh = runtimeHandler('fast');
    const sim = readyNode(rh);
    const extra = { type: 'BerthdHealthy', status: 'True' as const, reason: 'Serving', message: '' };
    const input = { ...sim.input([rh], T0), nodeConditions: [extra] };
    sim.apply(reconcileNode(input).actions, T0);
    expect(sim.status?.conditions.map((c) => c.type)).toEqual(['BerthdHealthy', HANDLERS_READY]);
    const reordered = { ...sim.status!, conditions: [...sim.status!.conditions].reverse() };
    expect(reconcileNode({ ...input, status: reordered, now: later(T0, 60_000) }).actions).toEqual([]);
  });

  test('a condition keeps its lastTransitionTime while its status stays, and moves when it changes', () => {
    const rh = runtimeHandler('fast');
    const sim = new NodeSim('n1');
    sim.apply(reconcileNode(sim.input([rh], T0)).actions, T0);
    const first = sim.status!.conditions.find((c) => c.type === HANDLERS_READY)!;
    expect(first).toMatchObject({ status: 'False', lastTransitionTime: '2025-03-01T12:00:00Z' });
    const t1 = later(T0, 5000);
    sim.apply(reconcileNode(sim.input([rh], t1)).actions, t1); // canary runs: still False
    expect(sim.status!.conditions.find((c) => c.type === HANDLERS_READY)!.lastTransitionTime).toBe(first.lastTransitionTime);
    const t2 = later(T0, 9000);
    sim.apply(reconcileNode(sim.input([rh], t2)).actions, t2); // Ready: True
    expect(sim.status!.conditions.find((c) => c.type === HANDLERS_READY)).toMatchObject({ status: 'True', lastTransitionTime: '2025-03-01T12:00:09Z' });
  });

  test('after an agent restart the canary result in the BerthNode status counts: no canary re-run', () => {
    const rh = runtimeHandler('fast');
    const sim = readyNode(rh);
    sim.canaries = []; // the edge's memory is gone; the drop-in and the BerthNode are not
    expect(reconcileNode(sim.input([rh], T0)).actions).toEqual([]);
  });

  test('a drop-in from another object of the same handler name (uid differs) is replaced at once, without a rollout', () => {
    const old = runtimeHandler('fast', { uid: 'old' });
    const sim = readyNode(old);
    const recreated = runtimeHandler('fast', { uid: 'new' });
    const { actions } = reconcileNode(sim.input([recreated], T0));
    expect(kinds(actions)).toEqual(['removeNodeLabel', 'configureHandler', 'writeBerthNodeStatus']);
    sim.apply(actions, T0);
    expect(converge(sim, [recreated]).map(kinds)).toEqual([['runCanary', 'writeBerthNodeStatus'], ['setNodeLabel', 'writeBerthNodeStatus']]);
  });
});

describe('reconcileNode: failures', () => {
  test('a failed canary: no label (removed if present), phase Failed with the reason, retried only after the backoff', () => {
    let fail = true;
    const rh = runtimeHandler('fast');
    const sim = new NodeSim('n1', { [LABEL]: 'ready' }, () => (fail ? 'container exited 127' : undefined));
    converge(sim, [rh]);
    expect(sim.labels[LABEL]).toBeUndefined();
    expect(stateOf(sim)).toMatchObject({ phase: 'Failed', generation: 1, lastCanary: { passed: false, message: 'container exited 127' } });
    expect(stateOf(sim)?.message).toContain('canary failed: container exited 127');
    expect(sim.status?.conditions.find((c) => c.type === HANDLERS_READY)).toMatchObject({ status: 'False', reason: 'HandlerFailed' });

    const soon = reconcileNode(sim.input([rh], later(T0, 1000)));
    expect(soon.actions).toEqual([]);
    expect(soon.requeueAfterMs).toBe(DEFAULT_RETRY_AFTER_MS - 1000);

    fail = false;
    const after = later(T0, DEFAULT_RETRY_AFTER_MS);
    const retry = reconcileNode(sim.input([rh], after));
    expect(kinds(retry.actions)).toEqual(['runCanary']);
    sim.apply(retry.actions, after);
    converge(sim, [rh], after);
    expect(sim.labels[LABEL]).toBe('ready');
    expect(stateOf(sim)?.phase).toBe('Ready');
  });

  test('a failed configure: no label, phase Failed with the reason, no retry before the backoff', () => {
    const rh = runtimeHandler('fast');
    let broken: string | undefined = 'binary /opt/x/runc not found';
    const sim = new NodeSim('n1', { [LABEL]: 'ready' }, undefined, () => broken);
    converge(sim, [rh]);
    expect(sim.configured).toEqual([]);
    expect(sim.labels[LABEL]).toBeUndefined();
    expect(stateOf(sim)).toMatchObject({ phase: 'Failed', generation: 1, message: 'configure failed: binary /opt/x/runc not found' });
    // The canary after the failed configure was skipped, as the contract says.
    expect(sim.log.filter((a) => a.kind === 'runCanary')).toEqual([]);
    expect(reconcileNode(sim.input([rh], later(T0, 60_000))).requeueAfterMs).toBe(DEFAULT_RETRY_AFTER_MS - 60_000);
    broken = undefined;
    converge(sim, [rh], later(T0, DEFAULT_RETRY_AFTER_MS));
    expect(stateOf(sim)?.phase).toBe('Ready');
  });

  test('a failed update keeps the label off even though the old configuration is still there', () => {
    const rh1 = runtimeHandler('fast');
    const sim = readyNode(rh1);
    const rh2 = runtimeHandler('fast', { generation: 2, status: { conditions: [], desiredNodes: 1, readyNodes: 0, failedNodes: 0, failingNodes: [], rollout: { generation: 2, nodes: ['n1'] } } });
    sim.configureError = (_h, g) => (g === 2 ? 'bad option' : undefined);
    converge(sim, [rh2]);
    expect(sim.configured).toEqual([{ handler: 'fast', generation: 1, uid: 'uid-fast' }]);
    expect(sim.labels[LABEL]).toBeUndefined();
    expect(stateOf(sim)).toMatchObject({ phase: 'Failed', generation: 2, message: 'configure failed: bad option' });
  });
});

describe('reconcileNode: changed handlers and the rollout', () => {
  const rollout = (generation: number, nodes: string[]) => ({ conditions: [], desiredNodes: 2, readyNodes: 0, failedNodes: 0, failingNodes: [], rollout: { generation, nodes } });

  test('a changed handler is not reconfigured while the node is not let in: it stays Ready at the old generation, labelled', () => {
    const sim = readyNode(runtimeHandler('fast'));
    for (const status of [undefined, rollout(2, ['n2']), rollout(1, ['n1'])]) {
      const rh2 = runtimeHandler('fast', { generation: 2, spec: { runtime: { type: 'crun' } }, ...(status ? { status } : {}) });
      const rounds = converge(sim, [rh2]);
      expect(rounds.flat().filter((a) => a.kind !== 'writeBerthNodeStatus')).toEqual([]);
      expect(stateOf(sim)).toMatchObject({ generation: 1, phase: 'Ready' });
      expect(stateOf(sim)?.message).toContain('generation 2 waits for its rollout');
      expect(sim.labels[LABEL]).toBe('ready');
    }
  });

  test('let in for the current generation: label off first, then reconfigure, canary, label back', () => {
    const sim = readyNode(runtimeHandler('fast'));
    const rh2 = runtimeHandler('fast', { generation: 2, spec: { runtime: { type: 'crun' } }, status: rollout(2, ['n1', 'n2']) });
    const rounds = converge(sim, [rh2]);
    expect(rounds.map(kinds)).toEqual([
      ['removeNodeLabel', 'configureHandler', 'writeBerthNodeStatus'],
      ['runCanary', 'writeBerthNodeStatus'],
      ['setNodeLabel', 'writeBerthNodeStatus'],
    ]);
    expect(rounds[0][1]).toMatchObject({ kind: 'configureHandler', generation: 2, runtime: { type: 'crun' } });
    expect(rounds[1][0]).toMatchObject({ kind: 'runCanary', generation: 2 });
    expect(stateOf(sim)).toMatchObject({ generation: 2, phase: 'Ready' });
  });

  test('the Pending state of an update carries no canary result, so the new generation is canaried for itself', () => {
    const sim = readyNode(runtimeHandler('fast'));
    const rh2 = runtimeHandler('fast', { generation: 2, status: rollout(2, ['n1']) });
    sim.apply(reconcileNode(sim.input([rh2], T0)).actions, T0);
    expect(stateOf(sim)).toEqual({ handler: 'fast', generation: 2, phase: 'Pending', message: 'updating from generation 1 to 2' });
  });
});

describe('reconcileNode: removal', () => {
  test('selector no longer matches: the label goes first, the handler is unconfigured only in a later round', () => {
    const rh = runtimeHandler('fast', { spec: { nodeSelector: { pool: 'a' } } });
    const sim = readyNode(rh);
    sim.labels.pool = 'b';
    const first = reconcileNode(sim.input([rh], T0)).actions;
    expect(kinds(first)).toEqual(['removeNodeLabel', 'writeBerthNodeStatus']);
    sim.apply(first, T0);
    expect(stateOf(sim)?.phase).toBe('Removing');
    const rounds = converge(sim, [rh]);
    expect(rounds.map(kinds)).toEqual([['unconfigureHandler', 'writeBerthNodeStatus'], ['writeBerthNodeStatus']]);
    expect(sim.configured).toEqual([]);
    expect(sim.status?.handlers).toEqual([]);
  });

  test('deleted while pods use it: Removing names the pods, unconfigured once they finished', () => {
    const rh = runtimeHandler('fast');
    const sim = readyNode(rh);
    const deleting = runtimeHandler('fast', { deleting: true });
    // The leader already deleted the RuntimeClass: the RuntimeHandler's template still maps the pods' class.
    sim.pods = [pod('web-1', 'fast'), pod('web-0', 'fast'), pod('done', 'fast', 'Succeeded'), pod('plain', undefined), pod('other', 'gvisor')];
    converge(sim, [deleting], T0, { gvisor: 'runsc' });
    expect(sim.configured).toHaveLength(1);
    expect(sim.labels[LABEL]).toBeUndefined();
    expect(stateOf(sim)).toMatchObject({ phase: 'Removing', message: 'waiting to unconfigure: in use by 2 pods: default/web-0, default/web-1' });
    expect(sim.log.some((a) => a.kind === 'unconfigureHandler')).toBe(false);

    sim.pods = [pod('web-1', 'fast', 'Failed'), pod('web-0', 'fast', 'Succeeded')];
    converge(sim, [deleting]);
    expect(sim.configured).toEqual([]);
    expect(sim.status?.handlers).toEqual([]);
  });

  test('a pod of a RuntimeClass nobody knows any more might use the handler: it blocks the removal and is named', () => {
    const sim = readyNode(runtimeHandler('fast'));
    sim.pods = [pod('mystery', 'gone-class', 'Unknown')];
    converge(sim, []);
    expect(sim.configured).toHaveLength(1);
    expect(stateOf(sim)?.message).toContain('default/mystery (RuntimeClass gone-class not found');
  });

  test('a failed unconfigure is retried after the backoff, the handler stays Removing meanwhile', () => {
    const sim = readyNode(runtimeHandler('fast'));
    converge(sim, []); // label off, unconfigured, status cleared
    sim.configured = [{ handler: 'fast', generation: 1 }];
    sim.failures = [{ handler: 'fast', operation: 'unconfigure', generation: 1, message: 'EBUSY', time: '2025-03-01T12:00:00Z' }];
    const plan = reconcileNode(sim.input([], later(T0, 1000)));
    expect(kinds(plan.actions)).toEqual(['writeBerthNodeStatus']);
    expect(plan.requeueAfterMs).toBe(DEFAULT_RETRY_AFTER_MS - 1000);
    sim.apply(plan.actions, T0);
    expect(stateOf(sim)?.message).toBe('unconfigure failed: EBUSY; retrying');
    expect(kinds(reconcileNode(sim.input([], later(T0, DEFAULT_RETRY_AFTER_MS))).actions)).toEqual(['unconfigureHandler', 'writeBerthNodeStatus']);
  });

  test('a stale handler label (nothing configured, nothing desired) is removed', () => {
    const sim = new NodeSim('n1', { [handlerLabel('ghost')]: 'ready', 'berth.dev/other': 'x' });
    expect(kinds(reconcileNode(sim.input([], T0)).actions)).toEqual(['removeNodeLabel', 'writeBerthNodeStatus']);
    converge(sim, []);
    expect(sim.labels).toEqual({ 'berth.dev/other': 'x' });
  });

  test('a node that is a steady state without handlers yields zero actions', () => {
    const sim = new NodeSim('n1');
    converge(sim, []);
    expect(reconcileNode(sim.input([], later(T0, 3_600_000))).actions).toEqual([]);
  });
});

describe('reconcileNode: two RuntimeHandlers naming one handler', () => {
  test('the older one is configured, the newer one ignored', () => {
    const older = runtimeHandler('zeta', { handler: 'fast', created: '2025-01-01T00:00:00Z', spec: { runtime: { type: 'runc' } } });
    const newer = runtimeHandler('alpha', { handler: 'fast', created: '2025-02-01T00:00:00Z', spec: { runtime: { type: 'crun' } } });
    const sim = new NodeSim('n1');
    const rounds = converge(sim, [newer, older]);
    expect(rounds[0][0]).toMatchObject({ kind: 'configureHandler', runtimeHandler: 'zeta', runtime: { type: 'runc' } });
    expect(sim.status?.handlers).toHaveLength(1);
  });
});
