/**
 * What the migration loop writes (src/agent/migrate/status.ts) and pre-pulls (src/agent/migration/pre-pull.ts):
 * each recorded phase appends one step and moves the Progressing condition; backups replace their own path;
 * the images to pre-pull are every tag, else a digest.
 */
import { describe, expect, test } from '@jest/globals';
import { MAX_LIST, parseNodeMigration } from '../../src/agent/api/validate-migration';
import { isTerminal, recordPhase, withBackup } from '../../src/agent/migrate/status';
import { referencesOf } from '../../src/agent/migration/pre-pull';

const m = parseNodeMigration({ apiVersion: 'berth.dev/v1alpha1', kind: 'NodeMigration', metadata: { name: 'n1', generation: 3 }, spec: { node: 'n1' } });
const T = new Date('2026-01-01T00:00:00.123Z');

describe('recorded phases', () => {
  test('a phase appends a step, sets Progressing, keeps findings unless given', () => {
    const s = recordPhase(m, 'Preflight', 'checking', T);
    expect(s).toMatchObject({ phase: 'Preflight', observedGeneration: 3, steps: [{ phase: 'Preflight', time: '2026-01-01T00:00:00Z', message: 'checking' }], findings: [] });
    expect(s.conditions).toEqual([expect.objectContaining({ type: 'Progressing', status: 'True', reason: 'Preflight', observedGeneration: 3 })]);
    const f = [{ check: 'BerthdHealth', severity: 'Info' as const, message: 'ok', objects: [] }];
    const next = recordPhase({ ...m, status: s }, 'Cordoned', 'passed', T, f);
    expect(next.steps.map((x) => x.phase)).toEqual(['Preflight', 'Cordoned']);
    expect(next.findings).toEqual(f);
    expect(recordPhase({ ...m, status: next }, 'Drained', 'd', T).findings).toEqual(f);
  });

  test('a terminal phase ends Progressing; the steps keep the newest MAX_LIST', () => {
    let st = recordPhase(m, 'Preflight', 'x', T);
    for (let i = 0; i < MAX_LIST + 5; i++) st = recordPhase({ ...m, status: st }, 'Drained', `try ${i}`, T);
    expect(st.steps).toHaveLength(MAX_LIST);
    expect(st.steps.at(-1)?.message).toBe(`try ${MAX_LIST + 4}`);
    const done = recordPhase({ ...m, status: st }, 'Completed', 'ok', T);
    expect(done.conditions[0]).toMatchObject({ status: 'False', reason: 'Completed' });
    expect([isTerminal('Completed'), isTerminal('RolledBack'), isTerminal('Failed'), isTerminal('Verifying'), isTerminal(undefined)]).toEqual([true, true, true, false, false]);
  });

  test('a backup of the same path replaces the earlier one', () => {
    const one = withBackup(m, { path: '/a', what: 'x', sha256: 'a'.repeat(64) });
    const two = withBackup({ ...m, status: one }, { path: '/a', what: 'y' });
    expect(two.backups).toEqual([{ path: '/a', what: 'y' }]);
    expect(withBackup({ ...m, status: two }, { path: '/b', what: 'z' }).backups.map((b) => b.path)).toEqual(['/a', '/b']);
  });
});

test('pre-pull takes every tag, else the first digest, never <none>', () => {
  expect(referencesOf([
    { id: '1', repoTags: ['docker.io/library/busybox:latest', 'busybox:1'] },
    { id: '2', repoTags: ['<none>:<none>'], repoDigests: ['quay.io/x@sha256:abc'] },
    { id: '3', repoTags: [], repoDigests: [] },
    { id: '4', repoTags: ['busybox:1'] },
  ])).toEqual(['busybox:1', 'docker.io/library/busybox:latest', 'quay.io/x@sha256:abc']);
});
