/** The progress display (src/plugin/progress.ts): rows with step counters, redraws on a TTY, one line per step otherwise. */
import { describe, expect, test } from '@jest/globals';
import type { MigrationPhase, NodeMigration } from '../../src/agent/api/migration-types';
import { parseNodeMigration } from '../../src/agent/api/validate-migration';
import { newStepLines, ProgressDisplay, progressRows, stepCounter } from '../../src/plugin/progress';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function migration(node: string, steps: Array<[MigrationPhase, number, string]>): NodeMigration {
  return parseNodeMigration({
    apiVersion: 'berth.dev/v1alpha1', kind: 'NodeMigration', metadata: { name: node, creationTimestamp: at(0) }, spec: { node },
    ...(steps.length ? { status: { phase: steps.at(-1)![0], steps: steps.map(([phase, t, message]) => ({ phase, time: at(t), message })) } } : {}),
  });
}

const draining = migration('n1', [['Pending', 0, 'created'], ['Preflight', 1, 'checking'], ['Cordoned', 2, 'cordoned'], ['Drained', 3, 'evicting 3 pods']]);
const rolledBack = migration('n2', [['Pending', 0, 'created'], ['Preflight', 1, 'ok'], ['Cordoned', 2, 'c'], ['Drained', 3, 'd'], ['Switching', 4, 's'], ['RollingBack', 5, 'kubelet failed'], ['RolledBack', 65, 'restored']]);

describe('rows', () => {
  test('NODE PHASE ELAPSED [k/7] message; a terminal migration stops its clock at its last step; a waiting node', () => {
    expect(progressRows([{ node: 'n1', migration: draining }, { node: 'n2', migration: rolledBack }, { node: 'n3' }, { node: 'n4', migration: migration('n4', []) }], new Date(T0 + 125_000))).toEqual([
      ['n1', 'Drained', '2m05s', '[4/7] evicting 3 pods'],
      ['n2', 'RolledBack', '1m05s', '[5/7] restored'],
      ['n3', 'Waiting', '-', ''],
      ['n4', 'Pending', '2m05s', '[1/7]'],
    ]);
    expect(stepCounter(migration('n', [['Pending', 0, ''], ['Preflight', 0, ''], ['Cordoned', 0, ''], ['Drained', 0, ''], ['Switching', 0, ''], ['Verifying', 0, ''], ['Completed', 0, '']]))).toBe('[7/7]');
  });

  test('new steps as lines', () => {
    expect(newStepLines('n1', draining, 2)).toEqual(['n1  Cordoned  cordoned', 'n1  Drained  evicting 3 pods']);
    expect(newStepLines('n1', draining, 4)).toEqual([]);
  });
});

describe('ProgressDisplay', () => {
  const sink = (isTTY: boolean) => {
    const writes: string[] = [];
    return { out: { isTTY, write: (s: string) => writes.push(s) }, writes };
  };

  test('not a TTY: each step once, as it appears; a trimmed step list does not hide new steps', () => {
    const { out, writes } = sink(false);
    const d = new ProgressDisplay(out, () => new Date(T0));
    d.update([{ node: 'n1', migration: migration('n1', [['Pending', 0, 'created']]) }, { node: 'n2' }]);
    d.update([{ node: 'n1', migration: draining }]);
    d.update([{ node: 'n1', migration: draining }]);
    d.update([{ node: 'n1', migration: migration('n1', [['Switching', 9, 'switching']]) }]);
    expect(writes.join('')).toBe('n1  Pending  created\nn1  Preflight  checking\nn1  Cordoned  cordoned\nn1  Drained  evicting 3 pods\nn1  Switching  switching\n');
  });

  test('a TTY: one line per node, redrawn in place', () => {
    const { out, writes } = sink(true);
    const d = new ProgressDisplay(out, () => new Date(T0 + 5000));
    d.update([{ node: 'n1', migration: draining }, { node: 'n2' }]);
    d.update([{ node: 'n1', migration: draining }, { node: 'n2' }]);
    expect(writes).toHaveLength(2);
    expect(writes[0].startsWith('\x1b[2K')).toBe(true);
    expect(writes[1].startsWith('\x1b[2A\x1b[2K')).toBe(true);
    expect(writes[1].split('\n').filter(Boolean).map((l) => l.replace(/\x1b\[\d*[AK]/g, '').split(/\s{3,}/))).toEqual([['n1', 'Drained', '5s', '[4/7] evicting 3 pods'], ['n2', 'Waiting', '-']]);
    d.note('n3: skipped');
    d.update([{ node: 'n1', migration: draining }]);
    expect(writes.at(-1)!.startsWith('\x1b[2K')).toBe(true);
  });
});
