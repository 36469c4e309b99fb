// The cluster's certificates, made with openssl: one CA signs the API server's serving certificate and every
// client certificate (admin, controller-manager, scheduler, the API server towards kubelets, each kubelet); the
// service-account key pair signs and verifies tokens. EC P-256 keys: quick to make, accepted everywhere here.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function openssl(args, opts = {}) {
  return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

function ecKey(file) {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
  fs.chmodSync(file, 0o600);
}

/** The CA: ca.crt, ca.key in `dir`. */
function makeCa(dir, name) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  ecKey(path.join(dir, 'ca.key'));
  openssl(['req', '-x509', '-new', '-key', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.crt'), '-days', '3650',
    '-subj', `/CN=${name}-ca`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

/**
 * A certificate `dir`/`base`.crt with its key, signed by the CA in `dir`: `cn` and `orgs` are the Kubernetes
 * user and groups; `sans` (DNS names and IPs) make it a serving certificate.
 */
function makeCert(dir, base, { cn, orgs = [], sans = [], server = false }) {
  const key = path.join(dir, `${base}.key`);
  const csr = path.join(dir, `${base}.csr`);
  const ext = path.join(dir, `${base}.ext`);
  ecKey(key);
  const subj = `${orgs.map((o) => `/O=${o}`).join('')}/CN=${cn}`;
  openssl(['req', '-new', '-key', key, '-out', csr, '-subj', subj]);
  const lines = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${server ? 'serverAuth,clientAuth' : 'clientAuth'}`];
  if (sans.length) lines.push(`subjectAltName=${sans.map((s) => (/^[\d.]+$/.test(s) ? `IP:${s}` : `DNS:${s}`)).join(',')}`);
  fs.writeFileSync(ext, `${lines.join('\n')}\n`);
  openssl(['x509', '-req', '-in', csr, '-CA', path.join(dir, 'ca.crt'), '-CAkey', path.join(dir, 'ca.key'), '-CAcreateserial',
    '-out', path.join(dir, `${base}.crt`), '-days', '3650', '-extfile', ext]);
  fs.rmSync(csr);
  fs.rmSync(ext);
  return { cert: path.join(dir, `${base}.crt`), key };
}

/** The service-account signing key (private) and its public half, for the API server and controller-manager. */
function makeServiceAccountKeys(dir) {
  const key = path.join(dir, 'sa.key');
  ecKey(key);
  openssl(['pkey', '-in', key, '-pubout', '-out', path.join(dir, 'sa.pub')]);
  return { key, pub: path.join(dir, 'sa.pub') };
}

/** A kubeconfig for one user of the cluster, with the CA and the client certificate embedded. */
function kubeconfig({ server, ca, cert, key, user, cluster }) {
  const b64 = (f) => fs.readFileSync(f).toString('base64');
  return [
    'apiVersion: v1', 'kind: Config',
    'clusters:', `- name: ${cluster}`, '  cluster:', `    server: ${server}`, `    certificate-authority-data: ${b64(ca)}`,
    'users:', `- name: ${user}`, '  user:', `    client-certificate-data: ${b64(cert)}`, `    client-key-data: ${b64(key)}`,
    'contexts:', `- name: ${user}@${cluster}`, '  context:', `    cluster: ${cluster}`, `    user: ${user}`,
    `current-context: ${user}@${cluster}`, '',
  ].join('\n');
}

module.exports = { makeCa, makeCert, makeServiceAccountKeys, kubeconfig };
