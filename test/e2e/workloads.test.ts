/**
 * A real cluster per runtime (hack/cluster: control plane, kubelet, the runtime, Berth's CNI plugins): the node
 * gets Ready, a Deployment's pod runs, and kubectl logs, exec and port-forward work end to end (API server →
 * kubelet → the runtime's streaming server → the container).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { type Cluster, deployWeb, down, getThroughPortForward, kubectl, up } from './cluster';

const RUNTIMES: Array<[string, RegExp]> = [
  ['containerd', /^containerd:\/\/2\./],
  ['cri-dockerd', /^docker:\/\/20\./],
];

describe.each(RUNTIMES)('hack/cluster up --runtime %s', (runtime, runtimeVersion) => {
  const name = `e2e-${runtime.replace(/[^a-z0-9]/g, '')}`;
  let c: Cluster;
  let pod: { name: string; node: string; ip: string };

  beforeAll(() => {
    c = up(name, ['--runtime', runtime]);
  }, 45 * 60_000);
  afterAll(() => down(name), 10 * 60_000);

  test('prints KUBECONFIG, REGISTRY and one node; the node is Ready on the runtime asked for', () => {
    expect(c.registry).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(c.nodes.map((n) => n.node)).toEqual([`${name}-node-0`]);
    const node = JSON.parse(kubectl(c, ['get', 'node', c.nodes[0].node, '-o', 'json']));
    expect(node.status.conditions.find((x: any) => x.type === 'Ready')?.status).toBe('True');
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(runtimeVersion);
    expect(node.status.nodeInfo.kubeletVersion).toBe('v1.36.3');
  });

  test('a Deployment\'s pod runs, with an address from the node\'s Berth bridge network', () => {
    const pods = deployWeb(c, 'web');
    expect(pods).toHaveLength(1);
    pod = pods[0];
    expect(pod.ip).toMatch(/^10\.\d+\.0\.\d+$/);
  }, 180_000);

  test('kubectl logs shows what the container wrote', () => {
    expect(kubectl(c, ['logs', pod.name])).toBe(`web starts on ${pod.name}\n`);
  });

  test('kubectl exec runs a command in the container, with stdin and the exit code', () => {
    expect(kubectl(c, ['exec', '-i', pod.name, '--', 'sh', '-c', 'read line; echo "got $line in $(hostname)"'], 'hello\n')).toBe(`got hello in ${pod.name}\n`);
    expect(() => kubectl(c, ['exec', pod.name, '--', 'sh', '-c', 'exit 3'])).toThrow(/→ 3:/);
  });

  test('kubectl port-forward reaches the container\'s port', async () => {
    expect(await getThroughPortForward(c, pod.name, '/hostname')).toBe(`${pod.name}\n`);
  }, 90_000);
});
