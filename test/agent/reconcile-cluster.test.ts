/** cluster.ts: the leader's work (finalizers, RuntimeClasses, status aggregation, deletion), rule by rule. */
import type { BerthNode, Condition, HandlerPhase, Node, RuntimeClass, RuntimeHandler } from '../../src/agent/api/types';
import { FINALIZER, OWNER_LABEL } from '../../src/agent/api/types';
import type { ClusterAction } from '../../src/agent/reconcile/actions';
import { reconcileCluster } from '../../src/agent/reconcile/cluster';
import { ClusterSim, FACTS, T0, later, node, runtimeHandler } from './reconcile-sim';

const kinds = (actions: readonly ClusterAction[]): string[] => actions.map((a) => a.kind);

const berthNode = (name: string, handlers: [string, number, HandlerPhase, string?][]): BerthNode => ({
  metadata: { name },
  status: { ...FACTS, conditions: [], handlers: handlers.map(([handler, generation, phase, message]) => ({ handler, generation, phase, message: message ?? phase })) },
});

interface World {
  sim: ClusterSim;
  nodes: Node[];
  berthNodes: BerthNode[];
}

const plan = (w: World, now = T0) => reconcileCluster({ runtimeHandlers: w.sim.runtimeHandlers, runtimeClasses: w.sim.runtimeClasses, berthNodes: w.berthNodes, nodes: w.nodes, now });

/** Reconcile and apply until nothing is left to do. */
function converge(w: World, now = T0, max = 6): ClusterAction[][] {
  const rounds: ClusterAction[][] = [];
  for (let i = 0; i < max; i++) {
    const { actions } = plan(w, now);
    if (actions.length === 0) return rounds;
    rounds.push([...actions]);
    w.sim.apply(actions);
  }
  throw new Error(`no steady state after ${max} rounds: ${JSON.stringify(rounds.at(-1))}`);
}

const cond = (rh: RuntimeHandler, type: string): Condition | undefined => rh.status?.conditions.find((c) => c.type === type);

const foreign: RuntimeClass = { metadata: { name: 'fast', labels: { team: 'x' } }, handler: 'something-else' };

describe('reconcileCluster: finalizer and RuntimeClass', () => {
  test('a new RuntimeHandler gets the finalizer, its RuntimeClass with every field, and a status; then nothing is left to do', () => {
    const rh = runtimeHandler('fast', {
      finalizers: [],
      spec: {
        nodeSelector: { pool: 'a' },
        runtimeClass: { create: true, name: 'fast-class', overheadPodFixed: { cpu: '250m', memory: '64Mi' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'fast', effect: 'NoSchedule' }] },
      },
    });
    const w: World = { sim: new ClusterSim([rh]), nodes: [node('n1', { pool: 'a' }), node('n2', { pool: 'b' })], berthNodes: [] };
    const rounds = converge(w);
    expect(rounds.map(kinds)).toEqual([['addFinalizer', 'createRuntimeClass', 'writeRuntimeHandlerStatus']]);
    expect(rounds[0][0]).toEqual({ kind: 'addFinalizer', name: 'fast' });
    expect(w.sim.runtimeClasses).toEqual([
      {
        metadata: { name: 'fast-class', labels: { [OWNER_LABEL]: 'fast' } },
        handler: 'fast',
        overhead: { podFixed: { cpu: '250m', memory: '64Mi' } },
        scheduling: { nodeSelector: { 'berth.dev/handler.fast': 'ready' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'fast', effect: 'NoSchedule' }] },
      },
    ]);
    const st = w.sim.handler('fast').status!;
    expect(st).toMatchObject({ observedGeneration: 1, desiredNodes: 1, readyNodes: 0, failedNodes: 0, failingNodes: [] });
    expect(st.rollout).toBeUndefined();
    expect(cond(w.sim.handler('fast'), 'Ready')).toMatchObject({ status: 'False', reason: 'NodesNotReady', observedGeneration: 1 });
    expect(cond(w.sim.handler('fast'), 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });
    expect(w.sim.handler('fast').metadata.finalizers).toEqual([FINALIZER]);
    expect(plan(w, later(T0, 3_600_000)).actions).toEqual([]);
  });

  test('a RuntimeClass of the same name without the owner label is left alone; the RuntimeHandler is Degraded with the reason', () => {
    const w: World = { sim: new ClusterSim([runtimeHandler('fast')], [foreign]), nodes: [node('n1')], berthNodes: [berthNode('n1', [['fast', 1, 'Ready']])] };
    const rounds = converge(w);
    expect(rounds.flat().filter((a) => a.kind.endsWith('RuntimeClass'))).toEqual([]);
    expect(w.sim.runtimeClasses).toEqual([foreign]);
    const rh = w.sim.handler('fast');
    expect(cond(rh, 'Degraded')).toMatchObject({ status: 'True', reason: 'RuntimeClassNotOwned' });
    expect(cond(rh, 'Degraded')?.message).toContain('RuntimeClass fast exists and is not managed by Berth');
    expect(cond(rh, 'Ready')).toMatchObject({ status: 'False', reason: 'RuntimeClassNotOwned' });
    expect(rh.status?.readyNodes).toBe(1);
  });

  test('a foreign RuntimeClass is not deleted even when no RuntimeHandler wants its name', () => {
    const w: World = { sim: new ClusterSim([], [foreign]), nodes: [], berthNodes: [] };
    expect(plan(w).actions).toEqual([]);
  });

  test('a changed template updates the RuntimeClass (resourceVersion as precondition); the same quantities spelled otherwise do not', () => {
    const w: World = { sim: new ClusterSim([runtimeHandler('fast', { spec: { runtimeClass: { create: true, name: 'fast', overheadPodFixed: { cpu: '0.5' } } } })]), nodes: [], berthNodes: [] };
    converge(w);
    // The API server stores quantities canonically and adds labels of its own choosing: no change.
    w.sim.runtimeClasses = w.sim.runtimeClasses.map((rc) => ({ ...rc, metadata: { ...rc.metadata, resourceVersion: '7', labels: { ...rc.metadata.labels, extra: 'kept' } }, overhead: { podFixed: { cpu: '500m' } } }));
    expect(plan(w).actions).toEqual([]);
    w.sim.changeSpec('fast', { runtimeClass: { create: true, name: 'fast', overheadPodFixed: { cpu: '1' }, tolerations: [{ operator: 'Exists' }] } });
    const { actions } = plan(w);
    const update = actions.find((a) => a.kind === 'updateRuntimeClass');
    expect(update).toMatchObject({ name: 'fast', resourceVersion: '7', body: { overhead: { podFixed: { cpu: '1' } }, scheduling: { tolerations: [{ operator: 'Exists' }] } } });
    converge(w);
    expect(w.sim.runtimeClasses[0].metadata.labels).toEqual({ [OWNER_LABEL]: 'fast', extra: 'kept' });
  });

  test('a changed handler (immutable in a RuntimeClass) replaces the class: delete, then create', () => {
    const w: World = { sim: new ClusterSim([runtimeHandler('fast')]), nodes: [], berthNodes: [] };
    converge(w);
    w.sim.changeSpec('fast', { handler: 'faster' });
    const { actions } = plan(w);
    expect(kinds(actions).filter((k) => k.endsWith('RuntimeClass'))).toEqual(['deleteRuntimeClass', 'createRuntimeClass']);
    converge(w);
    expect(w.sim.runtimeClasses.map((rc) => [rc.metadata.name, rc.handler])).toEqual([['fast', 'faster']]);
  });

  test('create=false deletes the class we own; a RuntimeHandler that is gone loses its class too', () => {
    const w: World = { sim: new ClusterSim([runtimeHandler('a'), runtimeHandler('b')]), nodes: [], berthNodes: [] };
    converge(w);
    expect(w.sim.runtimeClasses.map((rc) => rc.metadata.name)).toEqual(['a', 'b']);
    w.sim.changeSpec('a', { runtimeClass: { create: false, name: 'a' } });
    w.sim.runtimeHandlers = w.sim.runtimeHandlers.filter((rh) => rh.metadata.name !== 'b');
    const { actions } = plan(w);
    expect(actions.filter((a) => a.kind === 'deleteRuntimeClass')).toEqual([
      { kind: 'deleteRuntimeClass', name: 'a' },
      { kind: 'deleteRuntimeClass', name: 'b' },
    ]);
    converge(w);
    expect(w.sim.runtimeClasses).toEqual([]);
  });

  test('two RuntimeHandlers asking for one RuntimeClass name: the owner keeps it, the other is Degraded', () => {
    const w: World = {
      sim: new ClusterSim([runtimeHandler('b', { handler: 'hb', spec: { runtimeClass: { create: true, name: 'shared' } } })]),
      nodes: [],
      berthNodes: [],
    };
    converge(w);
    w.sim.runtimeHandlers.push(runtimeHandler('a', { handler: 'ha', spec: { runtimeClass: { create: true, name: 'shared' } } }));
    converge(w);
    expect(w.sim.runtimeClasses.map((rc) => [rc.metadata.name, rc.handler, rc.metadata.labels?.[OWNER_LABEL]])).toEqual([['shared', 'hb', 'b']]);
    expect(cond(w.sim.handler('a'), 'Degraded')).toMatchObject({ status: 'True', reason: 'RuntimeClassConflict', message: 'RuntimeClass shared belongs to RuntimeHandler b' });
  });

  test('two RuntimeHandlers naming one handler: the older owns it, the newer is Degraded and gets no RuntimeClass', () => {
    const older = runtimeHandler('zeta', { handler: 'fast', created: '2025-01-01T00:00:00Z', spec: { runtimeClass: { create: true, name: 'zeta' } } });
    const newer = runtimeHandler('alpha', { handler: 'fast', created: '2025-02-01T00:00:00Z', spec: { runtimeClass: { create: true, name: 'alpha' } } });
    const w: World = { sim: new ClusterSim([newer, older]), nodes: [node('n1')], berthNodes: [] };
    converge(w);
    expect(w.sim.runtimeClasses.map((rc) => rc.metadata.name)).toEqual(['zeta']);
    expect(cond(w.sim.handler('alpha'), 'Degraded')).toMatchObject({ status: 'True', reason: 'DuplicateHandler' });
    expect(w.sim.handler('alpha').status?.desiredNodes).toBe(0);
    expect(w.sim.handler('zeta').status?.desiredNodes).toBe(1);
  });
});

describe('reconcileCluster: status aggregation', () => {
  const nodes = [node('n1', { pool: 'a' }), node('n2', { pool: 'a' }), node('n3', { pool: 'a' }), node('n4', { pool: 'b' })];

  test('counts, failing nodes with reasons, conditions with observedGeneration; nodes outside the selector do not count', () => {
    const rh = runtimeHandler('fast', { generation: 3, spec: { nodeSelector: { pool: 'a' }, maxUnavailable: 3 } });
    const w: World = {
      sim: new ClusterSim([rh]),
      nodes,
      berthNodes: [
        berthNode('n1', [['fast', 3, 'Ready']]),
        berthNode('n2', [['fast', 3, 'Failed', 'canary failed: exit 1']]),
        berthNode('n3', [['fast', 2, 'Ready']]),
        berthNode('n4', [['fast', 3, 'Failed', 'not counted']]),
      ],
    };
    converge(w);
    const st = w.sim.handler('fast').status!;
    expect(st).toMatchObject({ observedGeneration: 3, desiredNodes: 3, readyNodes: 1, failedNodes: 1, failingNodes: [{ node: 'n2', reason: 'Failed', message: 'canary failed: exit 1' }] });
    expect(cond(w.sim.handler('fast'), 'Degraded')).toMatchObject({ status: 'True', reason: 'NodesFailed', observedGeneration: 3, message: '1 node failed: n2 (canary failed: exit 1)' });
    expect(cond(w.sim.handler('fast'), 'Ready')).toMatchObject({ status: 'False', reason: 'NodesNotReady', message: '1 of 3 nodes ready at generation 3' });
    // A node failed at the current generation: the rollout lets nobody new in (n3 stays at generation 2).
    expect(cond(w.sim.handler('fast'), 'Progressing')).toMatchObject({ status: 'False', reason: 'RolloutPaused' });
    expect(st.rollout).toBeUndefined();
  });

  test('all nodes Ready at the current generation: Ready True, Progressing False Complete, Degraded False', () => {
    const w: World = { sim: new ClusterSim([runtimeHandler('fast', { spec: { nodeSelector: { pool: 'a' } } })]), nodes, berthNodes: ['n1', 'n2', 'n3'].map((n) => berthNode(n, [['fast', 1, 'Ready']])) };
    converge(w);
    const rh = w.sim.handler('fast');
    expect(rh.status).toMatchObject({ desiredNodes: 3, readyNodes: 3, failedNodes: 0 });
    expect(rh.status?.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'AllNodesReady'],
      ['Progressing', 'False', 'Complete'],
      ['Degraded', 'False', 'AsExpected'],
    ]);
  });

  test('no node matches: Ready True with reason NoMatchingNodes', () => {
    const w: World = { sim: new ClusterSim([runtimeHandler('fast', { spec: { nodeSelector: { pool: 'none' } } })]), nodes, berthNodes: [] };
    converge(w);
    expect(cond(w.sim.handler('fast'), 'Ready')).toMatchObject({ status: 'True', reason: 'NoMatchingNodes' });
  });

  test('the status is written only when it changed; lastTransitionTime moves only with a status', () => {
    const w: World = { sim: new ClusterSim([runtimeHandler('fast', { spec: { nodeSelector: { pool: 'a' } } })]), nodes, berthNodes: [] };
    converge(w, T0);
    const t1 = later(T0, 60_000);
    expect(plan(w, t1).actions).toEqual([]);
    w.berthNodes = [berthNode('n1', [['fast', 1, 'Ready']])];
    const rounds = converge(w, t1);
    expect(rounds.map(kinds)).toEqual([['writeRuntimeHandlerStatus']]);
    expect(cond(w.sim.handler('fast'), 'Ready')?.lastTransitionTime).toBe('2025-03-01T12:00:00Z');
    w.berthNodes = ['n1', 'n2', 'n3'].map((n) => berthNode(n, [['fast', 1, 'Ready']]));
    converge(w, t1);
    expect(cond(w.sim.handler('fast'), 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: '2025-03-01T12:01:00Z' });
    expect(cond(w.sim.handler('fast'), 'Degraded')?.lastTransitionTime).toBe('2025-03-01T12:00:00Z');
  });
});

describe('reconcileCluster: deletion', () => {
  test('the RuntimeClass goes at once; the finalizer stays while a BerthNode lists the handler, and a condition says which and why', () => {
    const w: World = { sim: new ClusterSim([runtimeHandler('fast')]), nodes: [node('n1'), node('n2')], berthNodes: [] };
    converge(w);
    w.sim.runtimeHandlers = [{ ...w.sim.handler('fast'), metadata: { ...w.sim.handler('fast').metadata, deletionTimestamp: '2025-03-01T12:00:00Z' } }];
    w.berthNodes = [berthNode('n1', [['fast', 1, 'Removing', 'waiting to unconfigure: in use by 1 pod: default/web']]), berthNode('n2', [['fast', 1, 'Ready']])];
    const rounds = converge(w);
    expect(rounds.map(kinds)).toEqual([['deleteRuntimeClass', 'writeRuntimeHandlerStatus']]);
    expect(w.sim.runtimeClasses).toEqual([]);
    const rh = w.sim.handler('fast');
    expect(rh.metadata.finalizers).toEqual([FINALIZER]);
    expect(cond(rh, 'Progressing')).toMatchObject({ status: 'True', reason: 'Deleting' });
    expect(cond(rh, 'Progressing')?.message).toBe('waiting for 2 nodes to remove handler fast: n1 (Removing: waiting to unconfigure: in use by 1 pod: default/web), n2 (Ready: Ready)');
    expect(cond(rh, 'Ready')).toMatchObject({ status: 'False', reason: 'Deleting' });

    w.berthNodes = [berthNode('n1', [['fast', 1, 'Removing', 'unconfiguring']]), berthNode('n2', [])];
    converge(w);
    expect(cond(w.sim.handler('fast'), 'Progressing')?.message).toBe('waiting for 1 node to remove handler fast: n1 (Removing: unconfiguring)');

    w.berthNodes = [berthNode('n1', []), berthNode('n2', [])];
    expect(plan(w).actions).toEqual([{ kind: 'removeFinalizer', name: 'fast' }]);
    converge(w);
    expect(w.sim.runtimeHandlers).toEqual([]);
  });

  test('the BerthNode of a Node that no longer exists does not hold the finalizer', () => {
    const w: World = { sim: new ClusterSim([runtimeHandler('fast', { deleting: true })]), nodes: [node('n1')], berthNodes: [berthNode('n1', []), berthNode('gone', [['fast', 1, 'Ready']])] };
    expect(plan(w).actions).toEqual([{ kind: 'removeFinalizer', name: 'fast' }]);
  });

  test('a handler name another live RuntimeHandler owns does not hold the finalizer of the one being deleted', () => {
    const w: World = {
      sim: new ClusterSim([runtimeHandler('old', { handler: 'fast', deleting: true }), runtimeHandler('new', { handler: 'fast', spec: { runtimeClass: { create: false, name: 'x' } } })]),
      nodes: [node('n1')],
      berthNodes: [berthNode('n1', [['fast', 1, 'Ready']])],
    };
    converge(w);
    expect(w.sim.runtimeHandlers.map((r) => r.metadata.name)).toEqual(['new']);
  });

  test('being deleted without our finalizer: nothing to do', () => {
    const w: World = { sim: new ClusterSim([runtimeHandler('fast', { deleting: true, finalizers: ['other'] })]), nodes: [node('n1')], berthNodes: [berthNode('n1', [['fast', 1, 'Ready']])] };
    expect(plan(w).actions).toEqual([]);
  });
});
