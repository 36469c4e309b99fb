/**
 * The NodeMigration boundary (src/agent/api/validate-migration.ts, migration-json.ts): the CRD's defaults
 * applied on read, every bad field named in the error, the example in crds/examples/ parsing, and the written
 * status reading back unchanged.
 */
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { NodeMigration, NodeMigrationStatus } from '../../src/agent/api/migration-types';
import { nodeMigrationJson, nodeMigrationStatusJson, parseNodeMigration } from '../../src/agent/api/validate-migration';
import { BerthError } from '../../src/common/errors';

type Obj = Record<string, unknown>;
const EXAMPLES = path.resolve(__dirname, '..', '..', 'crds', 'examples');

/** What a parse throws (fails the test when it throws nothing). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('no error was thrown');
}

const nm = (spec: Obj, extra: Obj = {}): Obj => ({ apiVersion: 'berth.dev/v1alpha1', kind: 'NodeMigration', metadata: { name: 'm' }, spec, ...extra });
const SHA = 'a'.repeat(64);
const status: NodeMigrationStatus = {
  observedGeneration: 1,
  phase: 'Switching',
  conditions: [{ type: 'PreflightPassed', status: 'True', reason: 'NoBlockingFindings', message: '', lastTransitionTime: '2025-01-01T00:00:00Z', observedGeneration: 1 }],
  steps: [
    { phase: 'Pending', time: '2025-01-01T00:00:00Z', message: 'created' },
    { phase: 'Switching', time: '2025-01-01T00:01:00Z', message: 'kubelet stopped' },
  ],
  findings: [
    { check: 'DockerSocketMount', severity: 'Blocking', message: 'pod ci/builder mounts /var/run/docker.sock', objects: [{ kind: 'Pod', namespace: 'ci', name: 'builder' }, { kind: 'ReplicaSet', namespace: 'ci', name: 'builder-5d8f' }] },
    { check: 'KubeletVersion', severity: 'Info', message: 'kubelet v1.31.2 speaks CRI v1', objects: [{ kind: 'Node', name: 'node-1' }] },
  ],
  backups: [
    { path: '/var/lib/kubelet/kubeadm-flags.env', sha256: SHA, what: 'kubeadm-flags.env (--container-runtime-endpoint)' },
    { path: '/etc/systemd/system/kubelet.service.d/30-berth.conf', what: 'a drop-in the migration created' },
  ],
};

describe('parseNodeMigration: defaults', () => {
  test('a spec with only the node gets every default', () => {
    expect(parseNodeMigration(nm({ node: 'node-1' }))).toEqual({
      metadata: { name: 'm' },
      spec: { node: 'node-1', targetRuntime: 'berth', drain: { timeoutSeconds: 300, deleteEmptyDirData: false, force: false }, prePullImages: false, rollbackPolicy: 'Automatic', force: false, dryRun: false, rollback: false },
    });
  });

  test('what the API server fills in reads the same as what it leaves out', () => {
    const served = nm({ node: 'node-1', targetRuntime: 'berth', drain: { timeoutSeconds: 300, deleteEmptyDirData: false, force: false }, prePullImages: false, rollbackPolicy: 'Automatic', force: false, dryRun: false, rollback: false });
    expect(parseNodeMigration(served)).toEqual(parseNodeMigration(nm({ node: 'node-1' })));
  });

  test('an empty status reads as no phase and empty lists', () => {
    expect(parseNodeMigration(nm({ node: 'n' }, { status: {} })).status).toEqual({ conditions: [], steps: [], findings: [], backups: [] });
  });

  test('the example in crds/examples/nodemigration.yaml parses, with the values it spells out', () => {
    const m = parseNodeMigration(parseYaml(fs.readFileSync(path.join(EXAMPLES, 'nodemigration.yaml'), 'utf8')));
    expect(m.spec).toEqual({ node: 'node-1', targetRuntime: 'berth', drain: { timeoutSeconds: 600, gracePeriodSeconds: 30, deleteEmptyDirData: true, force: false }, prePullImages: true, rollbackPolicy: 'Automatic', force: false, dryRun: false, rollback: false });
  });
});

describe('parseNodeMigration: bad input names the field', () => {
  const withStatus = (patch: (s: Obj) => void): Obj => {
    const s = nodeMigrationStatusJson(status) as Obj;
    patch(s);
    return nm({ node: 'n' }, { status: s });
  };
  const cases: Array<[string, Obj, string, RegExp]> = [
    ['no spec', { apiVersion: 'berth.dev/v1alpha1', kind: 'NodeMigration', metadata: { name: 'm' } }, 'spec', /required/],
    ['another kind', { ...nm({ node: 'n' }), kind: 'RuntimeHandler' }, 'kind', /not NodeMigration/],
    ['no node', nm({}), 'spec.node', /required/],
    ['a node that is no DNS subdomain', nm({ node: 'Node_1' }), 'spec.node', /DNS-1123 subdomain/],
    ['another target runtime', nm({ node: 'n', targetRuntime: 'containerd' }), 'spec.targetRuntime', /not one of berth/],
    ['a drain timeout of 0', nm({ node: 'n', drain: { timeoutSeconds: 0 } }), 'spec.drain.timeoutSeconds', /at least 1/],
    ['a negative grace period', nm({ node: 'n', drain: { gracePeriodSeconds: -1 } }), 'spec.drain.gracePeriodSeconds', /at least 0/],
    ['deleteEmptyDirData as a string', nm({ node: 'n', drain: { deleteEmptyDirData: 'yes' } }), 'spec.drain.deleteEmptyDirData', /true or false/],
    ['a verify timeout under 10 s', nm({ node: 'n', verifyTimeoutSeconds: 5 }), 'spec.verifyTimeoutSeconds', /at least 10/],
    ['an unknown rollback policy', nm({ node: 'n', rollbackPolicy: 'Never' }), 'spec.rollbackPolicy', /not one of Automatic, Manual/],
    ['force as a number', nm({ node: 'n', force: 1 }), 'spec.force', /true or false/],
    ['an unknown phase', withStatus((s) => (s.phase = 'Done')), 'status.phase', /not one of Pending/],
    ['a step without a time', withStatus((s) => delete (s.steps as Obj[])[1].time), 'status.steps[1].time', /required/],
    ['a step at no RFC 3339 time', withStatus((s) => ((s.steps as Obj[])[0].time = 'yesterday')), 'status.steps[0].time', /RFC 3339/],
    ['a finding of unknown severity', withStatus((s) => ((s.findings as Obj[])[0].severity = 'Fatal')), 'status.findings[0].severity', /not one of Blocking, Warning, Info/],
    ['a finding check that is no name', withStatus((s) => ((s.findings as Obj[])[0].check = 'docker socket')), 'status.findings[0].check', /CamelCase/],
    ['a finding object without a name', withStatus((s) => delete ((s.findings as Obj[])[0].objects as Obj[])[1].name), 'status.findings[0].objects[1].name', /required/],
    ['a relative backup path', withStatus((s) => ((s.backups as Obj[])[0].path = 'var/lib/kubelet/x')), 'status.backups[0].path', /absolute/],
    ['a backup path with ..', withStatus((s) => ((s.backups as Obj[])[0].path = '/etc/../x')), 'status.backups[0].path', /'\.\.'/],
    ['a sha256 in upper case', withStatus((s) => ((s.backups as Obj[])[0].sha256 = 'A'.repeat(64))), 'status.backups[0].sha256', /SHA-256/],
    ['the same backup path twice', withStatus((s) => ((s.backups as Obj[])[1].path = '/var/lib/kubelet/kubeadm-flags.env')), 'status.backups[1].path', /appears twice/],
    ['too many steps', withStatus((s) => (s.steps = Array.from({ length: 257 }, () => ({ phase: 'Pending', time: '2025-01-01T00:00:00Z', message: '' })))), 'status.steps', /at most 256/],
    ['a condition of unknown status', withStatus((s) => ((s.conditions as Obj[])[0].status = 'Maybe')), 'status.conditions[0].status', /not one of True, False, Unknown/],
  ];
  test.each(cases.map(([what, obj, field, message]) => [what, field, obj, message] as const))('%s → %s', (_what, field, obj, message) => {
    const err = thrown(() => parseNodeMigration(obj));
    expect(err).toBeInstanceOf(BerthError);
    expect(err).toMatchObject({ kind: 'InvalidArgument', field, message: expect.stringMatching(message) });
  });
});

describe('written JSON reads back', () => {
  test('a status written by nodeMigrationStatusJson parses to itself', () => {
    expect(parseNodeMigration(nm({ node: 'n' }, { status: nodeMigrationStatusJson(status) })).status).toEqual(status);
  });

  test('a whole NodeMigration written by nodeMigrationJson parses to itself, defaults spelled out', () => {
    const m: NodeMigration = { metadata: { name: 'node-1', labels: { 'berth.dev/pool': 'a' } }, spec: parseNodeMigration(nm({ node: 'node-1', drain: { gracePeriodSeconds: 5 } })).spec, status };
    const json = nodeMigrationJson(m);
    expect(json.spec).toEqual({ node: 'node-1', targetRuntime: 'berth', drain: { timeoutSeconds: 300, gracePeriodSeconds: 5, deleteEmptyDirData: false, force: false }, prePullImages: false, rollbackPolicy: 'Automatic', force: false, dryRun: false, rollback: false });
    expect(parseNodeMigration(JSON.parse(JSON.stringify(json)))).toEqual(m);
  });
});
