/** Which pods a migration's drain evicts (src/agent/migrate/drain-plan.ts), by kubectl drain's rules. */
import { describe, expect, test } from '@jest/globals';
import { planDrain } from '../../src/agent/migrate/drain-plan';
import { parsePodFacts } from '../../src/agent/migrate/pod-facts';

type Obj = Record<string, unknown>;
const pod = (name: string, o: { owner?: string; emptyDir?: boolean; mirror?: boolean; phase?: string } = {}): Obj => ({
  metadata: {
    namespace: 'default', name,
    ...(o.owner ? { ownerReferences: [{ kind: o.owner.split('/')[0], name: o.owner.split('/')[1], controller: true }] } : {}),
    ...(o.mirror ? { annotations: { 'kubernetes.io/config.mirror': 'abc' } } : {}),
  },
  spec: { containers: [{ name: 'c', image: 'busybox' }], volumes: o.emptyDir ? [{ name: 'scratch', emptyDir: {} }] : [] },
  status: { phase: o.phase ?? 'Running' },
});
const names = (refs: readonly { name: string }[]) => refs.map((r) => r.name);
const DEFAULTS = { timeoutSeconds: 300, deleteEmptyDirData: false, force: false };

describe('planDrain', () => {
  const pods = [
    pod('web', { owner: 'ReplicaSet/web-5d8' }),
    pod('cache', { owner: 'StatefulSet/cache', emptyDir: true }),
    pod('bare'),
    pod('fluentd', { owner: 'DaemonSet/fluentd' }),
    pod('kube-proxy', { mirror: true }),
    pod('job-done', { owner: 'Job/once', phase: 'Succeeded' }),
  ].map(parsePodFacts);

  test('defaults: controller-owned pods evicted; DaemonSet, static and finished pods left; bare and emptyDir pods refused with the option that allows them', () => {
    const plan = planDrain(pods, DEFAULTS);
    expect(names(plan.evict)).toEqual(['web']);
    expect(plan.refused.map((r) => [r.pod.name, r.why.match(/drain\.\w+/)?.[0]])).toEqual([['cache', 'drain.deleteEmptyDirData'], ['bare', 'drain.force']]);
    expect(names(plan.left.map((l) => l.pod))).toEqual(['fluentd', 'kube-proxy', 'job-done']);
  });

  test('deleteEmptyDirData and force allow them', () => {
    expect(names(planDrain(pods, { ...DEFAULTS, deleteEmptyDirData: true, force: true }).evict)).toEqual(['web', 'cache', 'bare']);
    expect(planDrain(pods, { ...DEFAULTS, deleteEmptyDirData: true, force: true }).refused).toEqual([]);
  });
});
