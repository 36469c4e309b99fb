/**
 * The pool's scheduling (src/plugin/pool.ts): at most N in progress, node-name order, nothing new after a
 * failure, done only when nothing is in progress; and, simulated to the end with random finishing orders, the
 * in-progress count never exceeds N.
 */
import { describe, expect, test } from '@jest/globals';
import type { MigrationPhase } from '../../src/agent/api/migration-types';
import { planPool } from '../../src/plugin/pool';

const phases = (o: Record<string, MigrationPhase>) => new Map(Object.entries(o));

describe('planPool', () => {
  test('starts the first N nodes in name order, whatever order they come in', () => {
    expect(planPool(['c', 'a', 'd', 'b'], phases({}), 2)).toEqual({ start: ['a', 'b'], done: false, halted: false, notStarted: [] });
    expect(planPool(['c', 'a', 'b'], phases({}), 1).start).toEqual(['a']);
  });

  test('a slot opens only when a migration ends; Pending (no status yet) counts as in progress', () => {
    expect(planPool(['a', 'b', 'c'], phases({ a: 'Pending' }), 1).start).toEqual([]);
    expect(planPool(['a', 'b', 'c'], phases({ a: 'Switching', b: 'Drained' }), 2).start).toEqual([]);
    expect(planPool(['a', 'b', 'c'], phases({ a: 'Completed', b: 'Drained' }), 2).start).toEqual(['c']);
    expect(planPool(['a', 'b', 'c'], phases({ a: 'Completed' }), 1).start).toEqual(['b']);
  });

  test('after a Failed or RolledBack node nothing more starts; done once the rest in progress ended', () => {
    expect(planPool(['a', 'b', 'c', 'd'], phases({ a: 'Failed', b: 'Verifying' }), 2)).toEqual({ start: [], done: false, halted: true, notStarted: ['c', 'd'] });
    expect(planPool(['a', 'b', 'c', 'd'], phases({ a: 'Failed', b: 'Completed' }), 2)).toEqual({ start: [], done: true, halted: true, notStarted: ['c', 'd'] });
    expect(planPool(['a', 'b'], phases({ a: 'Completed', b: 'RolledBack' }), 1)).toEqual({ start: [], done: true, halted: true, notStarted: [] });
  });

  test('done when every node ended; existing Completed ones count as done', () => {
    expect(planPool(['a', 'b'], phases({ a: 'Completed', b: 'Completed' }), 1)).toEqual({ start: [], done: true, halted: false, notStarted: [] });
    expect(planPool([], phases({}), 1).done).toBe(true);
    expect(planPool(['a', 'b'], phases({ a: 'Completed' }), 3)).toEqual({ start: ['b'], done: false, halted: false, notStarted: [] });
  });

  test('existing in-progress migrations take their slots (more than N in progress starts nothing)', () => {
    expect(planPool(['a', 'b', 'c'], phases({ a: 'Drained', b: 'Cordoned' }), 1).start).toEqual([]);
  });

  test.each([1, 2, 3, 5])('simulated to the end with N=%d: never more than N in progress, all started in name order', (n) => {
    const nodes = Array.from({ length: 9 }, (_, i) => `node-${9 - i}`);
    let seed = n * 7919;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const state = new Map<string, MigrationPhase>();
    const startedOrder: string[] = [];
    for (let tick = 0; tick < 1000; tick++) {
      const plan = planPool(nodes, state, n);
      for (const s of plan.start) {
        state.set(s, 'Pending');
        startedOrder.push(s);
      }
      const inProgress = [...state.values()].filter((p) => p !== 'Completed').length;
      expect(inProgress).toBeLessThanOrEqual(n);
      if (plan.done) break;
      // The agents: each in-progress migration moves on or finishes at random.
      for (const [node, p] of state) if (p !== 'Completed' && random() < 0.4) state.set(node, random() < 0.5 ? 'Completed' : 'Switching');
    }
    expect(startedOrder).toEqual([...nodes].sort());
    expect([...state.values()].every((p) => p === 'Completed')).toBe(true);
  });
});
