// The control plane of a hack/cluster: etcd, kube-apiserver, kube-controller-manager and kube-scheduler, each a
// unit under <cluster>/control-plane (laid out like a control-plane host's /), all on 127.0.0.1 only.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const pki = require('./pki');
const { writeUnit, runUnit } = require('./units');
const { httpStatus, httpsStatus } = require('./kube');

const SERVICE_CIDR = '10.96.0.0/12';
const API_SERVICE_IP = '10.96.0.1';

/** The CA and every certificate the control plane and its clients use, under <cluster>/pki. */
function makePki(dir, name) {
  pki.makeCa(dir, name);
  const local = ['127.0.0.1', 'localhost'];
  return {
    ca: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    apiserver: pki.makeCert(dir, 'apiserver', {
      cn: 'kube-apiserver', server: true,
      sans: [...local, API_SERVICE_IP, 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    }),
    apiserverKubeletClient: pki.makeCert(dir, 'apiserver-kubelet-client', { cn: 'kube-apiserver-kubelet-client', orgs: ['system:masters'] }),
    admin: pki.makeCert(dir, 'admin', { cn: 'kubernetes-admin', orgs: ['system:masters'] }),
    controllerManager: pki.makeCert(dir, 'controller-manager', { cn: 'system:kube-controller-manager', sans: local, server: true }),
    scheduler: pki.makeCert(dir, 'scheduler', { cn: 'system:kube-scheduler', sans: local, server: true }),
    sa: pki.makeServiceAccountKeys(dir),
  };
}

/**
 * Writes the control plane's units (the API server listens on 127.0.0.1 and advertises `advertise`, an address on
 * the cluster's dummy link: endpoints may not be loopback) and starts them in order, each once it answers its health check.
 * Returns the runners ({ unit, pid, start }) in start order.
 */
async function startControlPlane({ dir, name, bins, ports, certs, advertise }) {
  const host = path.join(dir, 'control-plane');
  const unitsDir = path.join(host, 'etc/systemd/system');
  const stateDir = path.join(host, 'run/berth-units');
  const logDir = path.join(host, 'var/log');
  const kubeconfigDir = path.join(host, 'etc/kubernetes');
  fs.mkdirSync(kubeconfigDir, { recursive: true });
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const kc = (file, user, cert) => {
    const f = path.join(kubeconfigDir, file);
    fs.writeFileSync(f, pki.kubeconfig({ server, ca: certs.ca, cert: cert.cert, key: cert.key, user, cluster: name }), { mode: 0o600 });
    return f;
  };
  const cmKubeconfig = kc('controller-manager.conf', 'system:kube-controller-manager', certs.controllerManager);
  const schedKubeconfig = kc('scheduler.conf', 'system:kube-scheduler', certs.scheduler);

  const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
  const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
  writeUnit(unitsDir, 'etcd', {
    description: 'etcd for the cluster', exec: [bins.get('etcd').file, '--name', name, '--data-dir', path.join(host, 'var/lib/etcd'),
      '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl, '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `${name}=${peerUrl}`, '--log-level', 'warn',
      // A throw-away test cluster: fsync only costs time here.
      '--unsafe-no-fsync'],
  });
  writeUnit(unitsDir, 'kube-apiserver', {
    description: 'Kubernetes API server', exec: [bins.get('kube-apiserver').file,
      '--etcd-servers', etcdUrl, '--bind-address', '127.0.0.1', '--advertise-address', advertise, `--secure-port=${ports.apiserver}`,
      '--tls-cert-file', certs.apiserver.cert, '--tls-private-key-file', certs.apiserver.key, '--client-ca-file', certs.ca,
      '--service-account-key-file', certs.sa.pub, '--service-account-signing-key-file', certs.sa.key,
      '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local', '--api-audiences', 'https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range', SERVICE_CIDR, '--authorization-mode', 'Node,RBAC', '--enable-admission-plugins', 'NodeRestriction',
      '--allow-privileged=true', '--kubelet-client-certificate', certs.apiserverKubeletClient.cert,
      '--kubelet-client-key', certs.apiserverKubeletClient.key, '--kubelet-preferred-address-types', 'InternalIP,Hostname',
      '--enable-bootstrap-token-auth=true', '--profiling=false', '--cert-dir', path.join(host, 'var/run/kubernetes')],
  });
  writeUnit(unitsDir, 'kube-controller-manager', {
    description: 'Kubernetes controller manager', exec: [bins.get('kube-controller-manager').file,
      '--kubeconfig', cmKubeconfig, '--authentication-kubeconfig', cmKubeconfig, '--authorization-kubeconfig', cmKubeconfig,
      '--bind-address', '127.0.0.1', `--secure-port=${ports.controllerManager}`,
      '--tls-cert-file', certs.controllerManager.cert, '--tls-private-key-file', certs.controllerManager.key, '--client-ca-file', certs.ca,
      '--service-account-private-key-file', certs.sa.key, '--root-ca-file', certs.ca,
      '--cluster-signing-cert-file', certs.ca, '--cluster-signing-key-file', certs.caKey,
      '--use-service-account-credentials=true', '--controllers', '*,bootstrapsigner,tokencleaner',
      '--allocate-node-cidrs=false', '--leader-elect=false', '--profiling=false'],
  });
  writeUnit(unitsDir, 'kube-scheduler', {
    description: 'Kubernetes scheduler', exec: [bins.get('kube-scheduler').file,
      '--kubeconfig', schedKubeconfig, '--authentication-kubeconfig', schedKubeconfig, '--authorization-kubeconfig', schedKubeconfig,
      '--bind-address', '127.0.0.1', `--secure-port=${ports.scheduler}`,
      '--tls-cert-file', certs.scheduler.cert, '--tls-private-key-file', certs.scheduler.key, '--client-ca-file', certs.ca,
      '--leader-elect=false', '--profiling=false'],
  });

  const healthy = (port, p = '/healthz') => async () => (await httpsStatus({ port, path: p, ca: certs.ca, cert: certs.admin.cert, key: certs.admin.key })) === 200;
  const common = { unitsDir, stateDir, logDir };
  const runners = [];
  runners.push({ unit: 'etcd', ...(await runUnit({ ...common, name: 'etcd', ready: async () => (await httpStatus(ports.etcd, '/health')) === 200 })) });
  runners.push({ unit: 'kube-apiserver', ...(await runUnit({ ...common, name: 'kube-apiserver', ready: healthy(ports.apiserver, '/readyz'), timeoutMs: 120_000 })) });
  runners.push({ unit: 'kube-controller-manager', ...(await runUnit({ ...common, name: 'kube-controller-manager', ready: healthy(ports.controllerManager) })) });
  runners.push({ unit: 'kube-scheduler', ...(await runUnit({ ...common, name: 'kube-scheduler', ready: healthy(ports.scheduler) })) });
  return { runners, server, stateDir };
}

module.exports = { makePki, startControlPlane, SERVICE_CIDR };
