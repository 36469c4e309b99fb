/**
 * Several nodes and several runs: a 3-node cluster spreads a Deployment over its nodes and its pods reach each
 * other across nodes' bridges; a cluster on Debian's containerd 1.6 comes up, is taken down leaving nothing on the
 * host, and comes up again under the same name.
 */
import { expect, test } from '@jest/globals';
import { RUN_MARKER_VAR, compare, countLeftovers, formatReport, snapshot } from '../helpers/leaks';
import { deployWeb, down, kubectl, up } from './cluster';

test('3 nodes: all Ready; a spread Deployment runs a pod on each; pods reach each other across nodes', () => {
  const c = up('e2e-three', ['--nodes', '3']);
  try {
    expect(c.nodes.map((n) => n.node)).toEqual(['e2e-three-node-0', 'e2e-three-node-1', 'e2e-three-node-2']);
    expect(new Set(c.nodes.map((n) => n.hostRoot)).size).toBe(3);
    const ready = kubectl(c, ['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
    expect(ready.trim().split('\n').sort()).toEqual(c.nodes.map((n) => `${n.node}=True`));
    const pods = deployWeb(c, 'spread', 3, true);
    expect(pods.map((p) => p.node).sort()).toEqual(c.nodes.map((n) => n.node));
    const [a, b] = [pods.find((p) => p.node.endsWith('-0'))!, pods.find((p) => p.node.endsWith('-2'))!];
    expect(kubectl(c, ['exec', a.name, '--', 'wget', '-O', '-', `http://${b.ip}:8080/hostname`])).toBe(`${b.name}\n`);
  } finally {
    down('e2e-three');
  }
}, 15 * 60_000);

test('containerd 1.6: up, a pod runs, down leaves nothing behind, and up again under the same name works', () => {
  const before = snapshot();
  const first = up('e2e-again', ['--runtime', 'containerd-1.6']);
  const node = JSON.parse(kubectl(first, ['get', 'node', first.nodes[0].node, '-o', 'json']));
  expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\./);
  expect(deployWeb(first, 'once')).toHaveLength(1);
  down('e2e-again');
  const left = compare(before, snapshot(), process.pid, process.env[RUN_MARKER_VAR] ?? '');
  expect(countLeftovers(left) === 0 ? '' : formatReport(left)).toBe('');

  const second = up('e2e-again', ['--runtime', 'containerd-1.6']);
  try {
    expect(second.nodes.map((n) => n.node)).toEqual(first.nodes.map((n) => n.node));
    expect(kubectl(second, ['get', 'deployments', '-o', 'name'])).toBe('');
    expect(deployWeb(second, 'twice')).toHaveLength(1);
  } finally {
    down('e2e-again');
  }
}, 15 * 60_000);
