/** The preflight report (src/plugin/report.ts): Blocking first, the counts, the verdict; table, json and yaml. */
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import type { Finding } from '../../src/agent/api/migration-types';
import { doctorReport, renderReport } from '../../src/plugin/report';

const info: Finding = { check: 'Berthd', severity: 'Info', message: 'berthd 0.1.0 healthy', objects: [] };
const warning: Finding = { check: 'HostPathPods', severity: 'Warning', message: 'pods mount\nhost paths', objects: [{ kind: 'Pod', namespace: 'web', name: 'a' }, { kind: 'Pod', namespace: 'web', name: 'b' }] };
const blocking: Finding = { check: 'DockerSocketMount', severity: 'Blocking', message: 'pod ci/b mounts /var/run/docker.sock', objects: [{ kind: 'Pod', namespace: 'ci', name: 'b' }, { kind: 'Node', name: 'n1' }] };

describe('doctorReport', () => {
  test('Blocking first, then Warning, then Info, keeping the agent\'s order within one', () => {
    const r = doctorReport('n1', [info, warning, blocking, { ...info, check: 'Other' }]);
    expect(r.findings.map((f) => f.check)).toEqual(['DockerSocketMount', 'HostPathPods', 'Berthd', 'Other']);
    expect([r.blocking, r.wouldProceed]).toEqual([1, false]);
  });

  test('no blocking finding, or --force: the migration would go ahead', () => {
    expect(doctorReport('n1', [info]).wouldProceed).toBe(true);
    expect(doctorReport('n1', [blocking], true)).toMatchObject({ blocking: 1, wouldProceed: true });
  });
});

describe('renderReport', () => {
  test('table: the header line, one row per finding with its objects, the verdict', () => {
    const lines = renderReport(doctorReport('n1', [info, warning, blocking]), 'table').trimEnd().split('\n');
    expect(lines[0]).toBe('Preflight of node n1: 1 blocking, 1 warning, 1 info');
    expect(lines.slice(1, 5).map((l) => l.split(/\s{3,}/))).toEqual([
      ['SEVERITY', 'CHECK', 'MESSAGE', 'OBJECTS'],
      ['BLOCKING', 'DockerSocketMount', 'pod ci/b mounts /var/run/docker.sock', 'Pod ci/b, Node n1'],
      ['WARNING', 'HostPathPods', 'pods mount host paths', 'Pod web/a, Pod web/b'],
      ['INFO', 'Berthd', 'berthd 0.1.0 healthy', '<none>'],
    ]);
    expect(lines[5]).toBe('kubectl berth migrate n1 would stop at preflight (1 blocking finding); --force goes ahead despite them.');
    expect(lines).toHaveLength(6);
  });

  test('table: nothing found; forced', () => {
    expect(renderReport(doctorReport('n2', []), 'table')).toBe('Preflight of node n2: 0 blocking, 0 warnings, 0 info\nkubectl berth migrate n2 would go ahead.\n');
    expect(renderReport(doctorReport('n2', [blocking, blocking], true), 'table').trimEnd().split('\n').at(-1)).toBe('kubectl berth migrate n2 --force would go ahead despite 2 blocking findings.');
  });

  test('json and yaml: {node, findings, blocking, wouldProceed}', () => {
    const r = doctorReport('n1', [info, blocking]);
    const expected = { node: 'n1', findings: [blocking, info], blocking: 1, wouldProceed: false };
    expect(JSON.parse(renderReport(r, 'json'))).toEqual(expected);
    expect(parse(renderReport(r, 'yaml'))).toEqual(expected);
  });
});
