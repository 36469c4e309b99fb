/**
 * Locating kubelet's container runtime endpoint (src/agent/migrate/endpoint.ts, endpoint-read.ts): each way
 * kubeadm and the distributions configure it, written the way they write it, under a temp host root; every
 * place that sets it is found with the one kubelet takes marked, flags over the configuration.
 */
import { afterAll, beforeEach, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { flagFileKind, locateKubeletEndpoint } from '../../src/agent/migrate/endpoint';
import { findKubeletPid, readKubeletEndpoint } from '../../src/agent/migrate/endpoint-read';
import { hostExec, type HostExec } from '../../src/agent/node/host-exec';
import { cleanupTempDirs, tempDir } from '../helpers/oci';
import { INSTANCE_CONFIG, KUBEADM_DROPIN, KUBEADM_FLAGS, KUBELET_CONFIG } from './kubelet-fixtures';

const DOCKER = 'unix:///var/run/cri-dockerd.sock';
const CONTAINERD = 'unix:///run/containerd/containerd.sock';

let root: string;
let host: HostExec;
let proc: string;

beforeEach(() => {
  root = path.join(tempDir('berth-migrate-endpoint-'), 'host');
  fs.mkdirSync(root);
  host = hostExec(root, 'same-namespace');
  proc = path.join(path.dirname(root), 'proc');
  fs.mkdirSync(proc);
});
afterAll(() => cleanupTempDirs());

function write(hostPath: string, text: string): void {
  const f = host.inAgent(hostPath);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text);
}

/** A process under the fake /proc. */
function proces(pid: number, comm: string, argv: string[]): void {
  fs.mkdirSync(path.join(proc, String(pid)));
  fs.writeFileSync(path.join(proc, String(pid), 'comm'), `${comm}\n`);
  fs.writeFileSync(path.join(proc, String(pid), 'cmdline'), `${argv.join('\0')}\0`);
}

/**
 * A node as kubeadm sets it up: the packaged drop-in, kubeadm-flags.env (with the flag when `flag` is given)
 * and config.yaml (with containerRuntimeEndpoint when `config` is given).
 */
function kubeadmNode(o: { flag?: string; config?: string } = {}): void {
  write('/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf', KUBEADM_DROPIN);
  write('/var/lib/kubelet/kubeadm-flags.env', KUBEADM_FLAGS(o.flag));
  write('/var/lib/kubelet/config.yaml', KUBELET_CONFIG(o.config));
}

const read = () => readKubeletEndpoint(host, { procRoot: proc });
/** [file, kind, form, value, wins] per setting, for compact expectations. */
const rows = (e: ReturnType<typeof read>) => e.settings.map((s) => [s.file, s.kind, s.form, s.value, s.wins]);

describe('kubeadm', () => {
  test('kubeadm before NodeLocalCRISocket: the flag in kubeadm-flags.env, config.yaml without the field', () => {
    kubeadmNode({ flag: DOCKER });
    const e = read();
    expect(rows(e)).toEqual([['/var/lib/kubelet/kubeadm-flags.env', 'kubeadm-flags', 'flag', DOCKER, true]]);
    expect(e).toMatchObject({ endpoint: DOCKER, problems: [] });
    expect(e.running).toBeUndefined();
  });

  test('kubeadm with NodeLocalCRISocket: containerRuntimeEndpoint in config.yaml, and in instance-config.yaml (listed, never winning)', () => {
    kubeadmNode({ config: CONTAINERD });
    write('/var/lib/kubelet/instance-config.yaml', INSTANCE_CONFIG(CONTAINERD));
    expect(rows(read())).toEqual([
      ['/var/lib/kubelet/config.yaml', 'kubelet-config', 'field', CONTAINERD, true],
      ['/var/lib/kubelet/instance-config.yaml', 'kubeadm-instance-config', 'field', CONTAINERD, false],
    ]);
  });

  test('a node in between (upgraded, flag not yet removed): the flag wins over config.yaml, both are listed', () => {
    kubeadmNode({ flag: DOCKER, config: CONTAINERD });
    const e = read();
    expect(rows(e)).toEqual([
      ['/var/lib/kubelet/kubeadm-flags.env', 'kubeadm-flags', 'flag', DOCKER, true],
      ['/var/lib/kubelet/config.yaml', 'kubelet-config', 'field', CONTAINERD, false],
    ]);
    expect(e.endpoint).toBe(DOCKER);
  });
});

describe('distributions and hand-made units', () => {
  test('Debian/Ubuntu /etc/default/kubelet KUBELET_EXTRA_ARGS comes after kubeadm-flags.env and wins', () => {
    kubeadmNode({ flag: CONTAINERD });
    write('/etc/default/kubelet', `# KUBELET_EXTRA_ARGS=--container-runtime-endpoint=unix:///old.sock\nKUBELET_EXTRA_ARGS="--node-ip=10.0.0.5 --container-runtime-endpoint ${DOCKER}"\n`);
    expect(rows(read())).toEqual([
      ['/var/lib/kubelet/kubeadm-flags.env', 'kubeadm-flags', 'flag', CONTAINERD, false],
      ['/etc/default/kubelet', 'env-file', 'flag', DOCKER, true],
    ]);
  });

  test('RHEL /etc/sysconfig/kubelet', () => {
    write('/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf', KUBEADM_DROPIN.replace('/etc/default/kubelet', '/etc/sysconfig/kubelet'));
    write('/etc/sysconfig/kubelet', `KUBELET_EXTRA_ARGS=--container-runtime-endpoint=${DOCKER}\n`);
    expect(rows(read())).toEqual([['/etc/sysconfig/kubelet', 'env-file', 'flag', DOCKER, true]]);
  });

  test('an admin\'s systemd drop-in with an Environment line overrides the packaged one', () => {
    kubeadmNode({ flag: CONTAINERD });
    write('/etc/systemd/system/kubelet.service.d/20-cri-dockerd.conf', `[Service]\nEnvironment="KUBELET_EXTRA_ARGS=--container-runtime-endpoint=${DOCKER}"\n`);
    // ExecStart expands $KUBELET_KUBEADM_ARGS before $KUBELET_EXTRA_ARGS: the drop-in's flag comes last and wins,
    // though its file comes before kubeadm-flags.env.
    expect(rows(read())).toEqual([
      ['/etc/systemd/system/kubelet.service.d/20-cri-dockerd.conf', 'drop-in', 'flag', DOCKER, true],
      ['/var/lib/kubelet/kubeadm-flags.env', 'kubeadm-flags', 'flag', CONTAINERD, false],
    ]);
    // /etc/default/kubelet's KUBELET_EXTRA_ARGS (EnvironmentFile=) overrides the drop-in's Environment=.
    write('/etc/default/kubelet', 'KUBELET_EXTRA_ARGS="--container-runtime-endpoint=unix:///run/x.sock"\n');
    expect(rows(read()).map((r) => [r[0], r[4]])).toEqual([
      ['/etc/systemd/system/kubelet.service.d/20-cri-dockerd.conf', false],
      ['/var/lib/kubelet/kubeadm-flags.env', false],
      ['/etc/default/kubelet', true],
    ]);
  });

  test('a flag in an env file the unit does not read is listed (to be rewritten) but does not win', () => {
    kubeadmNode({ flag: CONTAINERD });
    write('/etc/sysconfig/kubelet', `KUBELET_EXTRA_ARGS=--container-runtime-endpoint=${DOCKER}\n`);
    expect(rows(read())).toEqual([
      ['/var/lib/kubelet/kubeadm-flags.env', 'kubeadm-flags', 'flag', CONTAINERD, true],
      ['/etc/sysconfig/kubelet', 'env-file', 'flag', DOCKER, false],
    ]);
  });

  test('a drop-in that replaces ExecStart (ExecStart= then a new one) with ${VAR} kept whole', () => {
    write('/usr/lib/systemd/system/kubelet.service', `[Service]\nExecStart=/usr/bin/kubelet --container-runtime-endpoint=${CONTAINERD}\n`);
    write('/etc/systemd/system/kubelet.service.d/10-runtime.conf', `[Service]\nEnvironment="RUNTIME=--container-runtime-endpoint=${DOCKER}"\nExecStart=\nExecStart=/usr/bin/kubelet \\\n  \${RUNTIME}\n`);
    expect(rows(read())).toEqual([
      ['/usr/lib/systemd/system/kubelet.service', 'unit', 'flag', CONTAINERD, false],
      ['/etc/systemd/system/kubelet.service.d/10-runtime.conf', 'drop-in', 'flag', DOCKER, true],
    ]);
  });

  test('a unit whose ExecStart has the flag (Kubernetes the hard way), its config file named by --config', () => {
    write('/etc/systemd/system/kubelet.service', `[Unit]\nDescription=Kubernetes Kubelet\n\n[Service]\nExecStart=/usr/local/bin/kubelet \\\n  --config=/var/lib/kubelet/kubelet-config.yaml \\\n  --container-runtime-endpoint=${CONTAINERD} \\\n  --kubeconfig=/var/lib/kubelet/kubeconfig \\\n  --v=2\nRestart=on-failure\n`);
    write('/var/lib/kubelet/kubelet-config.yaml', KUBELET_CONFIG(DOCKER));
    expect(rows(read())).toEqual([
      ['/etc/systemd/system/kubelet.service', 'unit', 'flag', CONTAINERD, true],
      ['/var/lib/kubelet/kubelet-config.yaml', 'kubelet-config', 'field', DOCKER, false],
    ]);
  });

  test('--config-dir drop-ins override the config file, the last by name winning', () => {
    kubeadmNode({ config: CONTAINERD });
    write('/etc/default/kubelet', 'KUBELET_EXTRA_ARGS="--config-dir=/etc/kubernetes/kubelet.conf.d"\n');
    write('/etc/kubernetes/kubelet.conf.d/10-a.conf', `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/a.sock\n`);
    write('/etc/kubernetes/kubelet.conf.d/20-b.conf', `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: ${DOCKER}\n`);
    write('/etc/kubernetes/kubelet.conf.d/30-other.conf', 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 50\n');
    write('/etc/kubernetes/kubelet.conf.d/README', `containerRuntimeEndpoint: unix:///not-a-drop-in.sock\n`);
    expect(rows(read())).toEqual([
      ['/etc/kubernetes/kubelet.conf.d/10-a.conf', 'kubelet-config-drop-in', 'field', 'unix:///run/a.sock', false],
      ['/etc/kubernetes/kubelet.conf.d/20-b.conf', 'kubelet-config-drop-in', 'field', DOCKER, true],
      ['/var/lib/kubelet/config.yaml', 'kubelet-config', 'field', CONTAINERD, false],
    ]);
  });
});

describe('the running kubelet', () => {
  test('its command line is listed and says what it runs with now; the files still decide what wins', () => {
    kubeadmNode({ flag: CONTAINERD });
    proces(4711, 'kubelet', ['/usr/bin/kubelet', '--config=/var/lib/kubelet/config.yaml', `--container-runtime-endpoint=${DOCKER}`]);
    proces(1, 'systemd', ['/sbin/init']);
    const e = read();
    expect(rows(e)).toEqual([
      ['/var/lib/kubelet/kubeadm-flags.env', 'kubeadm-flags', 'flag', CONTAINERD, true],
      ['/proc/4711/cmdline', 'command-line', 'flag', DOCKER, false],
    ]);
    expect([e.endpoint, e.running]).toEqual([CONTAINERD, DOCKER]);
  });

  test('a kubelet started without a unit: its command line wins, and its --config and --config-dir are followed', () => {
    write('/etc/kubelet/config.yaml', KUBELET_CONFIG(CONTAINERD));
    write('/etc/kubelet/conf.d/50-x.conf', 'kind: KubeletConfiguration\nmaxPods: 20\n');
    proces(99, 'kubelet', ['kubelet', '--config', '/etc/kubelet/config.yaml', '--config-dir', '/etc/kubelet/conf.d']);
    expect(rows(read())).toEqual([['/etc/kubelet/config.yaml', 'kubelet-config', 'field', CONTAINERD, true]]);
    fs.writeFileSync(path.join(proc, '99', 'cmdline'), ['kubelet', '--config', '/etc/kubelet/config.yaml', '--container-runtime-endpoint', DOCKER].join('\0'));
    expect(rows(read())).toEqual([
      ['/proc/99/cmdline', 'command-line', 'flag', DOCKER, true],
      ['/etc/kubelet/config.yaml', 'kubelet-config', 'field', CONTAINERD, false],
    ]);
  });

  test('several kubelets (test clusters on one machine): none is guessed unless the PID is given', () => {
    proces(10, 'kubelet', ['kubelet', `--container-runtime-endpoint=${DOCKER}`]);
    proces(11, 'kubelet', ['kubelet', `--container-runtime-endpoint=${CONTAINERD}`]);
    expect(findKubeletPid(proc)).toBeUndefined();
    expect(read().settings).toEqual([]);
    expect(readKubeletEndpoint(host, { procRoot: proc, kubeletPid: 11 }).running).toBe(CONTAINERD);
    expect(findKubeletPid(path.join(proc, 'missing'))).toBeUndefined();
  });
});

describe('edge cases', () => {
  test('nothing sets it: no settings, endpoint empty (kubelet\'s default applies)', () => {
    write('/var/lib/kubelet/config.yaml', KUBELET_CONFIG());
    expect(read()).toEqual({ settings: [], endpoint: '', problems: [] });
  });

  test('a file that is not YAML, or a field that is not a string, is a problem, not an exception', () => {
    const e = locateKubeletEndpoint({
      flagFiles: [],
      config: { file: '/var/lib/kubelet/config.yaml', text: 'containerRuntimeEndpoint: [unclosed\n' },
      instanceConfig: { file: '/var/lib/kubelet/instance-config.yaml', text: 'containerRuntimeEndpoint: 5\n' },
    });
    expect(e.settings).toEqual([]);
    expect(e.problems).toHaveLength(2);
    expect(e.problems[0]).toMatch(/^\/var\/lib\/kubelet\/config\.yaml: not YAML/);
    expect(e.problems[1]).toBe('/var/lib/kubelet/instance-config.yaml: containerRuntimeEndpoint must be a string, not 5');
  });

  test('a file setting the flag twice contributes its last value; comments do not count', () => {
    const e = locateKubeletEndpoint({ flagFiles: [{ file: '/etc/default/kubelet', text: `#KUBELET_EXTRA_ARGS=--container-runtime-endpoint=unix:///x.sock\nKUBELET_EXTRA_ARGS="--container-runtime-endpoint=${CONTAINERD} --container-runtime-endpoint='${DOCKER}'"\n` }] });
    expect(e.settings).toEqual([{ file: '/etc/default/kubelet', kind: 'env-file', form: 'flag', value: DOCKER, wins: true }]);
  });

  test('flag files are told apart by where the packaging puts them', () => {
    expect(['/lib/systemd/system/kubelet.service', '/run/systemd/system/kubelet.service.d/x.conf', '/var/lib/kubelet/kubeadm-flags.env', '/etc/sysconfig/kubelet'].map(flagFileKind))
      .toEqual(['unit', 'drop-in', 'kubeadm-flags', 'env-file']);
  });
});
