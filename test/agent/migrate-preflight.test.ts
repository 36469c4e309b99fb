/**
 * The migration's preflight checks (src/agent/migrate/preflight.ts, pod-checks.ts, node-checks.ts): each
 * check over pods as the API server returns them and over node facts, with the severity that decides whether
 * the migration may go on, and the objects each finding names.
 */
import { describe, expect, test } from '@jest/globals';
import type { Finding } from '../../src/agent/api/migration-types';
import { parseNodeMigration } from '../../src/agent/api/validate-migration';
import { nodeMigrationStatusJson } from '../../src/agent/api/migration-json';
import type { KubeletEndpoint } from '../../src/agent/migrate/endpoint';
import { checkBerthd, checkCgroupDriver, checkImageDisk, checkKubeletVersion, checkRuntimeEndpoint, parseKubeletMinor } from '../../src/agent/migrate/node-checks';
import { checkDockerInDocker, checkDockerSocketMounts, checkNotDrained, dockerSocketExposure } from '../../src/agent/migrate/pod-checks';
import { parsePodFacts } from '../../src/agent/migrate/pod-facts';
import { blockingFindings, mayProceed, preflight, type PreflightFacts } from '../../src/agent/migrate/preflight';

type Obj = Record<string, unknown>;
const GiB = 2 ** 30;

interface PodOpts {
  ns?: string;
  owner?: { kind: string; name: string };
  volumes?: Obj[];
  containers?: Obj[];
  initContainers?: Obj[];
  annotations?: Record<string, string>;
  phase?: string;
}

/** A core/v1 Pod as `kubectl get pod -o json` shows it (the fields preflight reads, and some it does not). */
function pod(name: string, o: PodOpts = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.ns ?? 'default',
      uid: `uid-${name}`,
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: o.owner.kind, name: o.owner.name, uid: 'u', controller: true, blockOwnerDeletion: true }] } : {}),
    },
    spec: {
      nodeName: 'node-1',
      volumes: [{ name: 'kube-api-access-x', projected: { sources: [] } }, ...(o.volumes ?? [])],
      containers: o.containers ?? [{ name: 'app', image: 'nginx:1.27', volumeMounts: [{ name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }] }],
      ...(o.initContainers ? { initContainers: o.initContainers } : {}),
    },
    status: { phase: o.phase ?? 'Running' },
  };
}
const hostPath = (name: string, p: string, type = ''): Obj => ({ name, hostPath: { path: p, ...(type ? { type } : {}) } });
const mount = (name: string, mountPath: string): Obj => ({ name, mountPath });
const facts = (...pods: Obj[]) => pods.map(parsePodFacts);
const summary = (fs: Finding[]) => fs.map((f) => [f.check, f.severity]);

describe('pods mounting Docker\'s or cri-dockerd\'s socket', () => {
  test('which hostPaths expose a socket or its directory', () => {
    expect(['/var/run/docker.sock', '/run/docker.sock', '/var/run/cri-dockerd.sock', '/run/cri-dockerd.sock', '/var/run/dockershim.sock', '/opt/k8s/dockershim.sock', '//var/run//docker.sock'].map(dockerSocketExposure)).toEqual(Array(7).fill('socket'));
    expect(['/var/run', '/run/', '/'].map(dockerSocketExposure)).toEqual(['directory', 'directory', 'directory']);
    expect(['/var', '/var/run/calico', '/run/containerd/containerd.sock', '/var/lib/docker', '/var/run/docker.sock.d'].map(dockerSocketExposure)).toEqual(Array(5).fill(undefined));
  });

  test('a Deployment\'s pod mounting docker.sock is Blocking and names the pod and its ReplicaSet', () => {
    const p = pod('builder-5d8f9-abcde', {
      ns: 'ci', owner: { kind: 'ReplicaSet', name: 'builder-5d8f9' },
      volumes: [hostPath('docker', '/var/run/docker.sock', 'Socket')],
      containers: [{ name: 'build', image: 'docker:27-cli', volumeMounts: [mount('docker', '/var/run/docker.sock')] }],
    });
    const [f, ...rest] = checkDockerSocketMounts(facts(p));
    expect(rest).toEqual([]);
    expect([f.check, f.severity]).toEqual(['DockerSocketMount', 'Blocking']);
    expect(f.message).toMatch(/^pod ci\/builder-5d8f9-abcde \(owned by ReplicaSet builder-5d8f9\) mounts \/var\/run\/docker\.sock through hostPath volume docker \(build at \/var\/run\/docker\.sock\)/);
    expect(f.objects).toEqual([{ kind: 'Pod', namespace: 'ci', name: 'builder-5d8f9-abcde' }, { kind: 'ReplicaSet', namespace: 'ci', name: 'builder-5d8f9' }]);
  });

  test('cri-dockerd\'s and dockershim\'s sockets, from an init container, in a pod without owner', () => {
    const p = pod('debug', {
      volumes: [hostPath('cri', '/run/cri-dockerd.sock'), hostPath('shim', '/var/run/dockershim.sock')],
      initContainers: [{ name: 'probe', image: 'busybox', volumeMounts: [mount('cri', '/cri.sock'), mount('shim', '/shim.sock')] }],
    });
    const out = checkDockerSocketMounts(facts(p));
    expect(summary(out)).toEqual([['DockerSocketMount', 'Blocking'], ['DockerSocketMount', 'Blocking']]);
    expect(out[0].message).toMatch(/^pod default\/debug \(no owner\) mounts \/run\/cri-dockerd\.sock .*\(probe at \/cri\.sock\)/);
    expect(out[1].objects).toEqual([{ kind: 'Pod', namespace: 'default', name: 'debug' }]);
  });

  test('a hostPath of /var/run or /run is a Warning; a DaemonSet\'s pod is reported like any other', () => {
    const p = pod('node-exporter-x', {
      ns: 'monitoring', owner: { kind: 'DaemonSet', name: 'node-exporter' },
      volumes: [hostPath('run', '/var/run'), hostPath('root', '/', 'Directory')],
      containers: [{ name: 'exporter', image: 'prom/node-exporter', volumeMounts: [mount('run', '/host/run'), mount('root', '/host/root')] }],
    });
    const out = checkDockerSocketMounts(facts(p));
    expect(summary(out)).toEqual([['DockerSocketMount', 'Warning'], ['DockerSocketMount', 'Warning']]);
    expect(out[0].message).toMatch(/owned by DaemonSet node-exporter\) mounts the host's \/var\/run through hostPath volume run/);
  });

  test('not reported: a socket volume no container mounts, finished pods, other hostPaths; then one Info says so', () => {
    const unmounted = pod('a', { volumes: [hostPath('docker', '/var/run/docker.sock')] });
    const finished = pod('b', { phase: 'Succeeded', volumes: [hostPath('docker', '/var/run/docker.sock')], containers: [{ name: 'c', image: 'x', volumeMounts: [mount('docker', '/d.sock')] }] });
    const other = pod('c', { volumes: [hostPath('logs', '/var/log')], containers: [{ name: 'c', image: 'fluent-bit', volumeMounts: [mount('logs', '/var/log')] }] });
    expect(summary(checkDockerSocketMounts(facts(unmounted, finished, other)))).toEqual([['DockerSocketMount', 'Info']]);
  });
});

describe('Docker-in-Docker', () => {
  test('a privileged dind container is a Warning (its state is lost on eviction)', () => {
    const p = pod('dind-0', {
      ns: 'ci', owner: { kind: 'StatefulSet', name: 'dind' },
      volumes: [{ name: 'data', emptyDir: {} }],
      containers: [{ name: 'dockerd', image: 'docker.io/library/docker:27-dind', securityContext: { privileged: true }, volumeMounts: [mount('data', '/var/lib/docker')] }],
    });
    const out = checkDockerInDocker(facts(p));
    expect(summary(out)).toEqual([['DockerInDocker', 'Warning']]);
    expect(out[0].message).toMatch(/pod ci\/dind-0 \(owned by StatefulSet dind\) runs Docker in a privileged container \(dockerd \(docker\.io\/library\/docker:27-dind\)\)/);
    expect(out[0].objects).toEqual([{ kind: 'Pod', namespace: 'ci', name: 'dind-0' }, { kind: 'StatefulSet', namespace: 'ci', name: 'dind' }]);
  });

  test('a privileged container with its own /var/lib/docker counts whatever its image; on the host\'s /var/lib/docker it is Blocking', () => {
    const own = pod('runner', { volumes: [{ name: 'd', emptyDir: {} }], containers: [{ name: 'r', image: 'gitlab/gitlab-runner', securityContext: { privileged: true }, volumeMounts: [mount('d', '/var/lib/docker')] }] });
    const shared = pod('shared', { volumes: [hostPath('d', '/var/lib/docker/')], containers: [{ name: 'r', image: 'my/dind', securityContext: { privileged: true }, volumeMounts: [mount('d', '/var/lib/docker')] }] });
    expect(summary(checkDockerInDocker(facts(own, shared)))).toEqual([['DockerInDocker', 'Warning'], ['DockerInDocker', 'Blocking']]);
  });

  test('not Docker-in-Docker: an unprivileged dind image, a privileged non-Docker container; a log shipper reading /var/lib/docker/containers is a DockerDataMount Warning', () => {
    const unprivileged = pod('a', { containers: [{ name: 'd', image: 'docker:dind' }] });
    const privileged = pod('b', { containers: [{ name: 'cni', image: 'calico/node', securityContext: { privileged: true } }] });
    expect(summary(checkDockerInDocker(facts(unprivileged, privileged)))).toEqual([['DockerInDocker', 'Info']]);
    const shipper = pod('fluentd-x', { owner: { kind: 'DaemonSet', name: 'fluentd' }, volumes: [hostPath('containers', '/var/lib/docker/containers')], containers: [{ name: 'fluentd', image: 'fluent/fluentd', volumeMounts: [mount('containers', '/var/lib/docker/containers')] }] });
    const out = checkDockerInDocker(facts(shipper));
    expect(summary(out)).toEqual([['DockerDataMount', 'Warning']]);
    expect(out[0].message).toMatch(/\/var\/log\/pods/);
  });
});

describe('pods the drain leaves', () => {
  test('mirror pods and DaemonSet pods are Info, each listing its pods; others give nothing', () => {
    const mirror = pod('kube-proxy-node-1', { ns: 'kube-system', annotations: { 'kubernetes.io/config.mirror': 'abc', 'kubernetes.io/config.source': 'file' }, owner: { kind: 'Node', name: 'node-1' } });
    const ds = pod('cilium-x', { ns: 'kube-system', owner: { kind: 'DaemonSet', name: 'cilium' } });
    const done = pod('job-x', { owner: { kind: 'DaemonSet', name: 'x' }, phase: 'Failed' });
    const out = checkNotDrained(facts(mirror, ds, done, pod('web', { owner: { kind: 'ReplicaSet', name: 'web-1' } })));
    expect(summary(out)).toEqual([['NotDrained', 'Info'], ['NotDrained', 'Info']]);
    expect(out[0].message).toBe('1 static (mirror) pod(s) are not drained; kubelet restarts them on the new runtime: kube-system/kube-proxy-node-1');
    expect(out[1].message).toMatch(/kube-system\/cilium-x \(DaemonSet cilium\)/);
    expect(out[1].objects).toEqual([{ kind: 'Pod', namespace: 'kube-system', name: 'cilium-x' }, { kind: 'DaemonSet', namespace: 'kube-system', name: 'cilium' }]);
    expect(checkNotDrained(facts(pod('web')))).toEqual([]);
  });

  test('hundreds of DaemonSet pods: the message names ten, the objects stay within the CRD\'s 256', () => {
    const many = Array.from({ length: 200 }, (_, i) => pod(`p-${i}`, { owner: { kind: 'DaemonSet', name: `ds-${i}` } }));
    const [f] = checkNotDrained(facts(...many));
    expect(f.message).toMatch(/and 190 more$/);
    expect(f.objects).toHaveLength(256);
  });
});

describe('node checks', () => {
  test('berthd: not installed or unhealthy is Blocking; healthy is Info with its version', () => {
    expect(summary(checkBerthd('n', { installed: false, healthy: false, version: '', message: '' }))).toEqual([['BerthdHealth', 'Blocking']]);
    const sick = checkBerthd('n', { installed: true, healthy: false, version: '0.1.0', message: 'CRI Status: runtime not ready' });
    expect([sick[0].severity, sick[0].message]).toEqual(['Blocking', 'berthd on node n is not healthy: CRI Status: runtime not ready']);
    expect(checkBerthd('n', { installed: true, healthy: true, version: '0.1.0', message: '' })).toEqual([{ check: 'BerthdHealth', severity: 'Info', message: 'berthd 0.1.0 is healthy', objects: [{ kind: 'Node', name: 'n' }] }]);
  });

  test('kubelet version: below 1.24 Blocking; 1.24 to 1.36 fine; newer a Warning; vendor suffixes understood', () => {
    expect(['v1.31.2', 'v1.28.3-eks-a5565ad', 'v1.29.1+k3s1', '1.30'].map(parseKubeletMinor)).toEqual([[1, 31], [1, 28], [1, 29], [1, 30]]);
    expect(parseKubeletMinor('latest')).toBeUndefined();
    const sev = (v: string) => checkKubeletVersion('n', v)[0].severity;
    expect(['v1.20.15', 'v1.23.17', 'v1.24.0', 'v1.36.1', 'v1.37.0', 'v2.0.0', 'garbage'].map(sev)).toEqual(['Blocking', 'Blocking', 'Info', 'Info', 'Warning', 'Warning', 'Warning']);
    expect(checkKubeletVersion('n', 'v1.23.17')[0].message).toMatch(/older than 1\.24: berthd needs a kubelet that speaks the CRI v1 API/);
  });

  test('disk for images: below the threshold, or below what the node\'s images take, is a Warning', () => {
    expect(summary(checkImageDisk('n', { path: '/var/lib/berth', freeBytes: 50 * GiB }))).toEqual([['ImageDiskSpace', 'Info']]);
    expect(summary(checkImageDisk('n', { path: '/var/lib/berth', freeBytes: 5 * GiB }))).toEqual([['ImageDiskSpace', 'Warning']]);
    const big = checkImageDisk('n', { path: '/var/lib/berth', freeBytes: 20 * GiB, neededBytes: 30 * GiB });
    expect([big[0].severity, big[0].message]).toEqual(['Warning', "/var/lib/berth has 20.0 GiB free, less than the 30.0 GiB berthd needs to pull the node's images again (the node's images take 30.0 GiB)"]);
    expect(summary(checkImageDisk('n', { path: '/', freeBytes: 2 * GiB }, GiB))).toEqual([['ImageDiskSpace', 'Info']]);
  });

  test('cgroup driver: reported with its source; berthd configured otherwise is Blocking', () => {
    expect(checkCgroupDriver('n', { kubelet: 'systemd', source: '/var/lib/kubelet/config.yaml: cgroupDriver' })[0].message).toBe('kubelet uses the systemd cgroup driver (/var/lib/kubelet/config.yaml: cgroupDriver)');
    expect(summary(checkCgroupDriver('n', { kubelet: 'systemd', source: 's', berthd: 'systemd' }))).toEqual([['CgroupDriver', 'Info']]);
    expect(summary(checkCgroupDriver('n', { kubelet: 'systemd', source: 's', berthd: 'cgroupfs' }))).toEqual([['CgroupDriver', 'Blocking']]);
  });

  const endpoint = (e: Partial<KubeletEndpoint>): KubeletEndpoint => ({ settings: [], endpoint: '', problems: [], ...e });
  const FLAGS = '/var/lib/kubelet/kubeadm-flags.env';
  test('runtime endpoint: every place listed with the winner; unreadable files Blocking; nothing set or a stale running kubelet a Warning', () => {
    const two = endpoint({
      endpoint: 'unix:///var/run/cri-dockerd.sock',
      settings: [
        { file: FLAGS, kind: 'kubeadm-flags', form: 'flag', value: 'unix:///var/run/cri-dockerd.sock', wins: true },
        { file: '/var/lib/kubelet/config.yaml', kind: 'kubelet-config', form: 'field', value: 'unix:///run/containerd/containerd.sock', wins: false },
      ],
    });
    const [f] = checkRuntimeEndpoint('n', two);
    expect(f.message).toBe("kubelet's runtime endpoint is unix:///var/run/cri-dockerd.sock (cri-dockerd), set in /var/lib/kubelet/kubeadm-flags.env (--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock, wins); /var/lib/kubelet/config.yaml (containerRuntimeEndpoint=unix:///run/containerd/containerd.sock)");
    expect(summary(checkRuntimeEndpoint('n', endpoint({ problems: ['/var/lib/kubelet/config.yaml: not YAML'] })))).toEqual([['RuntimeEndpoint', 'Blocking'], ['RuntimeEndpoint', 'Warning']]);
    expect(checkRuntimeEndpoint('n', endpoint({}))[0].message).toMatch(/no file sets kubelet's runtime endpoint; it uses its default unix:\/\/\/run\/containerd\/containerd\.sock/);
    const stale = checkRuntimeEndpoint('n', { ...two, running: 'unix:///run/containerd/containerd.sock' });
    expect(summary(stale)).toEqual([['RuntimeEndpoint', 'Info'], ['RuntimeEndpoint', 'Warning']]);
    const done = checkRuntimeEndpoint('n', endpoint({ endpoint: 'unix:///run/berth/berthd.sock', settings: [{ file: FLAGS, kind: 'kubeadm-flags', form: 'flag', value: 'unix:///run/berth/berthd.sock', wins: true }] }));
    expect(done.map((x) => x.message).at(-1)).toBe('kubelet already uses berthd');
  });
});

describe('preflight as a whole', () => {
  const good: PreflightFacts = {
    node: 'node-1',
    pods: [],
    kubeletVersion: 'v1.31.2',
    endpoint: { settings: [{ file: '/var/lib/kubelet/kubeadm-flags.env', kind: 'kubeadm-flags', form: 'flag', value: 'unix:///var/run/cri-dockerd.sock', wins: true }], endpoint: 'unix:///var/run/cri-dockerd.sock', problems: [] },
    cgroupDriver: { kubelet: 'systemd', source: '/var/lib/kubelet/config.yaml: cgroupDriver' },
    imageFs: { path: '/var/lib/berth', freeBytes: 40 * GiB },
    berthd: { installed: true, healthy: true, version: '0.1.0', message: '' },
  };

  test('a clean node: one Info per check, node checks first, and the migration may go on', () => {
    const out = preflight(good);
    expect(summary(out)).toEqual([
      ['BerthdHealth', 'Info'], ['KubeletVersion', 'Info'], ['RuntimeEndpoint', 'Info'], ['CgroupDriver', 'Info'], ['ImageDiskSpace', 'Info'], ['DockerSocketMount', 'Info'], ['DockerInDocker', 'Info'],
    ]);
    expect(mayProceed(out, false)).toBe(true);
  });

  test('a docker.sock pod blocks unless forced; an unreadable pod is a Warning and the others are still checked; findings fit the CRD', () => {
    const sock = pod('builder', { owner: { kind: 'ReplicaSet', name: 'builder-1' }, volumes: [hostPath('d', '/var/run/docker.sock')], containers: [{ name: 'b', image: 'docker:cli', volumeMounts: [mount('d', '/var/run/docker.sock')] }] });
    const out = preflight({ ...good, pods: [sock, { metadata: {} }] });
    expect(blockingFindings(out).map((f) => f.check)).toEqual(['DockerSocketMount']);
    expect(out.find((f) => f.check === 'PodUnreadable')?.message).toMatch(/^pod #1 on the node could not be read, so no check saw it: metadata\.namespace: is required/);
    expect([mayProceed(out, false), mayProceed(out, true)]).toEqual([false, true]);
    // What the agent writes into the status is what the CRD and the parser accept.
    const status = parseNodeMigration({ metadata: { name: 'm' }, spec: { node: 'node-1' }, status: nodeMigrationStatusJson({ phase: 'Preflight', conditions: [], steps: [], findings: out, backups: [] }) }).status;
    expect(status?.findings).toEqual(out);
  });

  test('an old kubelet on an unhealthy berthd: two Blocking findings', () => {
    const out = preflight({ ...good, kubeletVersion: 'v1.23.17', berthd: { installed: true, healthy: false, version: '0.1.0', message: 'connection refused' } });
    expect(blockingFindings(out).map((f) => f.check)).toEqual(['BerthdHealth', 'KubeletVersion']);
  });
});
