/**
 * rollout.ts on its own, then the rollout end to end in a simulated cluster: one NodeSim per node running
 * reconcileNode, the leader running reconcileCluster, each step applying what they asked for.
 */
import type { NodeHandlerState, RuntimeHandler, RuntimeHandlerSpec } from '../../src/agent/api/types';
import { handlerLabel } from '../../src/agent/api/types';
import { reconcileCluster } from '../../src/agent/reconcile/cluster';
import { reconcileNode } from '../../src/agent/reconcile/node';
import { maxUnavailableCount, planRollout, type NodeStanding } from '../../src/agent/reconcile/rollout';
import { ClusterSim, NodeSim, T0, runtimeHandler } from './reconcile-sim';

describe('maxUnavailableCount', () => {
  test.each([
    [1, 10, 1],
    [3, 10, 3],
    [0, 10, 1],
    ['25%', 10, 2],
    ['10%', 5, 1],
    ['50%', 5, 2],
    ['100%', 3, 3],
    ['0%', 4, 1],
  ] as const)('%s of %i nodes → %i', (value, desired, want) => {
    expect(maxUnavailableCount(value, desired)).toBe(want);
  });
});

describe('planRollout', () => {
  const at = (node: string, generation: number, phase: NodeHandlerState['phase']): NodeStanding => ({ node, state: { handler: 'h', generation, phase, message: '' } });
  const five = ['e', 'c', 'a', 'd', 'b'].map((n) => at(n, 1, 'Ready'));

  test('lets nodes in by name, as many as maxUnavailable allows', () => {
    expect(planRollout(2, five, undefined, 1).nodes).toEqual(['a']);
    expect(planRollout(2, five, undefined, 2).nodes).toEqual(['a', 'b']);
    expect(planRollout(2, five, undefined, '40%').nodes).toEqual(['a', 'b']);
  });

  test('keeps nodes let in, and lets the next one in only when one became Ready', () => {
    const applying = [at('a', 2, 'Pending'), ...five.filter((s) => s.node !== 'a')];
    expect(planRollout(2, applying, { generation: 2, nodes: ['a'] }, 1).nodes).toEqual(['a']);
    const done = [at('a', 2, 'Ready'), ...five.filter((s) => s.node !== 'a')];
    expect(planRollout(2, done, { generation: 2, nodes: ['a'] }, 1).nodes).toEqual(['a', 'b']);
  });

  test('a let-in node that still reports the old generation counts as unavailable (it is about to change)', () => {
    const plan = planRollout(2, five, { generation: 2, nodes: ['c'] }, 1);
    expect(plan.nodes).toEqual(['c']);
    expect(plan.unavailable).toBe(1);
  });

  test('a rollout list of an older generation is not kept', () => {
    expect(planRollout(3, five, { generation: 2, nodes: ['d', 'e'] }, 1).nodes).toEqual(['a']);
  });

  test('nodes unavailable anyway (failed at an older generation) are let in first and cost nothing', () => {
    const standings = [at('a', 1, 'Ready'), at('b', 1, 'Ready'), at('c', 1, 'Failed'), at('d', 1, 'Ready')];
    const plan = planRollout(2, standings, undefined, 1);
    expect(plan.nodes).toEqual(['c']);
    expect(planRollout(2, standings, undefined, 2).nodes).toEqual(['a', 'c']);
  });

  test('a node failed at the current generation pauses the rollout: nobody new is let in, those in stay', () => {
    const standings = [at('a', 2, 'Ready'), at('b', 2, 'Failed'), at('c', 1, 'Ready'), at('d', 1, 'Ready')];
    const plan = planRollout(2, standings, { generation: 2, nodes: ['a', 'b'] }, 3);
    expect(plan).toMatchObject({ paused: true, complete: false, nodes: ['a', 'b'] });
  });

  test('nodes that never had the handler need no letting in, but take their share of maxUnavailable', () => {
    const standings = [{ node: 'new' }, at('a', 1, 'Ready'), at('b', 1, 'Ready')];
    expect(planRollout(2, standings, undefined, 1).nodes).toEqual([]);
    expect(planRollout(2, standings, undefined, 2).nodes).toEqual(['a']);
  });

  test('complete: every node Ready at the generation, the list is dropped', () => {
    const plan = planRollout(2, [at('a', 2, 'Ready'), at('b', 2, 'Ready')], { generation: 2, nodes: ['a', 'b'] }, 1);
    expect(plan).toMatchObject({ complete: true, nodes: [] });
  });

  test('deterministic: the input order does not matter', () => {
    const shuffled = [...five].reverse();
    expect(planRollout(2, shuffled, undefined, 2)).toEqual(planRollout(2, five, undefined, 2));
  });
});

/** A cluster of NodeSims and one leader, stepped until nobody has anything left to do. */
class World {
  readonly leader: ClusterSim;
  readonly nodes: NodeSim[];
  now = T0;

  constructor(rh: RuntimeHandler, names: string[], canary: (node: string, handler: string, generation: number) => string | undefined = () => undefined) {
    this.leader = new ClusterSim([rh]);
    this.nodes = names.map((n) => new NodeSim(n, { pool: 'a' }, (h, g) => canary(n, h, g)));
  }

  /** One step: every node agent reconciles and applies, then the leader. Returns how many actions were taken. */
  step(): number {
    let taken = 0;
    for (const n of this.nodes) {
      const { actions } = reconcileNode(n.input(this.leader.runtimeHandlers, this.now, this.leader.classHandlers()));
      n.apply(actions, this.now);
      taken += actions.length;
    }
    const { actions } = reconcileCluster({
      runtimeHandlers: this.leader.runtimeHandlers,
      runtimeClasses: this.leader.runtimeClasses,
      berthNodes: this.nodes.map((n) => n.berthNode()),
      nodes: this.nodes.map((n) => n.node()),
      now: this.now,
    });
    this.leader.apply(actions);
    this.now = new Date(this.now.getTime() + 1000);
    return taken + actions.length;
  }

  /** Steps until a step takes no action; `each` runs after every step. */
  settle(each: () => void = () => undefined, max = 100): number {
    for (let i = 1; i <= max; i++) {
      const taken = this.step();
      each();
      if (taken === 0) return i;
    }
    throw new Error(`no steady state after ${max} steps`);
  }

  /** Node names whose handler label is set (they take new pods of the class). */
  labelled(handler = 'fast'): string[] {
    return this.nodes.filter((n) => n.labels[handlerLabel(handler)] === 'ready').map((n) => n.name);
  }

  configuredGeneration(node: NodeSim, handler = 'fast'): number | undefined {
    return node.configured.find((c) => c.handler === handler)?.generation;
  }

  change(spec: Partial<RuntimeHandlerSpec>): void {
    this.leader.changeSpec('fast', spec);
  }
}

const NAMES = ['n1', 'n2', 'n3', 'n4', 'n5'];
const condition = (w: World, type: string) => w.leader.handler('fast').status?.conditions.find((c) => c.type === type);

describe('the rollout in a simulated cluster', () => {
  test('a new RuntimeHandler goes on every node at once; the status ends Ready; then nothing is left to do', () => {
    const w = new World(runtimeHandler('fast', { spec: { nodeSelector: { pool: 'a' } } }), NAMES);
    w.settle();
    expect(w.labelled()).toEqual(NAMES);
    expect(w.leader.handler('fast').status).toMatchObject({ desiredNodes: 5, readyNodes: 5, failedNodes: 0 });
    expect(condition(w, 'Ready')?.status).toBe('True');
    expect(w.step()).toBe(0);
  });

  test('a change rolls out node by node, by name, within maxUnavailable=1, until all are Ready at the new generation', () => {
    const w = new World(runtimeHandler('fast'), NAMES);
    w.settle();
    w.change({ runtime: { type: 'crun' } });
    const order: string[] = [];
    w.settle(() => {
      // Availability: never more than one node without the label, and never more than one node changing.
      expect(w.labelled().length).toBeGreaterThanOrEqual(NAMES.length - 1);
      const changing = w.nodes.filter((n) => w.configuredGeneration(n) === 2 && n.labels[handlerLabel('fast')] !== 'ready');
      expect(changing.length).toBeLessThanOrEqual(1);
      for (const n of w.nodes) if (w.configuredGeneration(n) === 2 && !order.includes(n.name)) order.push(n.name);
    });
    expect(order).toEqual(NAMES);
    expect(w.nodes.map((n) => w.configuredGeneration(n))).toEqual([2, 2, 2, 2, 2]);
    expect(w.labelled()).toEqual(NAMES);
    const st = w.leader.handler('fast').status!;
    expect(st).toMatchObject({ observedGeneration: 2, desiredNodes: 5, readyNodes: 5 });
    expect(st.rollout).toBeUndefined();
    expect(condition(w, 'Progressing')).toMatchObject({ status: 'False', reason: 'Complete', observedGeneration: 2 });
    expect(w.step()).toBe(0);
  });

  test('maxUnavailable 50% of 5 nodes lets two change at a time, and never more', () => {
    const w = new World(runtimeHandler('fast', { spec: { maxUnavailable: '50%' } }), NAMES);
    w.settle();
    w.change({ runtime: { type: 'crun' } });
    let most = 0;
    w.settle(() => {
      const unlabelled = NAMES.length - w.labelled().length;
      expect(unlabelled).toBeLessThanOrEqual(2);
      most = Math.max(most, unlabelled);
    });
    expect(most).toBe(2);
    expect(w.nodes.every((n) => w.configuredGeneration(n) === 2)).toBe(true);
  });

  test('a node whose canary fails at the new generation stops the rollout; a fixed spec then rolls out everywhere, the failed node first', () => {
    const w = new World(runtimeHandler('fast'), NAMES, (node, _h, g) => (node === 'n2' && g === 2 ? 'exit status 1' : undefined));
    w.settle();
    w.change({ runtime: { type: 'crun' } });
    w.settle();
    expect(w.nodes.map((n) => w.configuredGeneration(n))).toEqual([2, 2, 1, 1, 1]);
    expect(w.labelled()).toEqual(['n1', 'n3', 'n4', 'n5']);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'NodesFailed' });
    expect(condition(w, 'Degraded')?.message).toContain('n2 (canary failed: exit status 1)');
    expect(condition(w, 'Progressing')).toMatchObject({ status: 'False', reason: 'RolloutPaused' });
    expect(w.leader.handler('fast').status?.failingNodes).toEqual([{ node: 'n2', reason: 'Failed', message: 'canary failed: exit status 1' }]);
    expect(w.step()).toBe(0);

    w.change({ runtime: { type: 'runc' } });
    const order: string[] = [];
    w.settle(() => {
      for (const n of w.nodes) if (w.configuredGeneration(n) === 3 && !order.includes(n.name)) order.push(n.name);
    });
    expect(order[0]).toBe('n2');
    expect(order.sort()).toEqual(NAMES);
    expect(w.labelled()).toEqual(NAMES);
    expect(condition(w, 'Degraded')?.status).toBe('False');
    expect(condition(w, 'Ready')?.status).toBe('True');
  });

  test('without a leader nothing rolls out: nodes keep the generation they have', () => {
    const w = new World(runtimeHandler('fast'), NAMES);
    w.settle();
    w.change({ runtime: { type: 'crun' } });
    for (const n of w.nodes) n.apply(reconcileNode(n.input(w.leader.runtimeHandlers, w.now)).actions, w.now);
    expect(w.nodes.map((n) => w.configuredGeneration(n))).toEqual([1, 1, 1, 1, 1]);
    expect(w.labelled()).toEqual(NAMES);
  });

  test('deleting the RuntimeHandler: RuntimeClass, labels and drop-ins go, the finalizer last, and a node with a pod holds it up', () => {
    const w = new World(runtimeHandler('fast'), NAMES);
    w.settle();
    expect(w.leader.runtimeClasses).toHaveLength(1);
    w.nodes[2].pods = [{ namespace: 'default', name: 'web', runtimeClassName: 'fast', phase: 'Running' }];
    const rh = w.leader.handler('fast');
    w.leader.runtimeHandlers = [{ ...rh, metadata: { ...rh.metadata, deletionTimestamp: '2025-03-01T12:00:00Z' } }];
    w.settle();
    expect(w.leader.runtimeClasses).toEqual([]);
    expect(w.labelled()).toEqual([]);
    expect(w.nodes.map((n) => w.configuredGeneration(n))).toEqual([undefined, undefined, 1, undefined, undefined]);
    expect(w.leader.runtimeHandlers).toHaveLength(1);
    expect(condition(w, 'Progressing')?.message).toBe('waiting for 1 node to remove handler fast: n3 (Removing: waiting to unconfigure: in use by 1 pod: default/web)');

    w.nodes[2].pods = [{ namespace: 'default', name: 'web', runtimeClassName: 'fast', phase: 'Succeeded' }];
    w.settle();
    expect(w.nodes.map((n) => w.configuredGeneration(n))).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(w.leader.runtimeHandlers).toEqual([]);
    expect(w.step()).toBe(0);
  });
});
