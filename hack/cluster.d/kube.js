// Talking to a cluster's API server: kubectl of the pinned version with the admin kubeconfig, and probes.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');

/** kubectl with `kubeconfig`; returns { status, stdout, stderr }. */
function kubectl(bin, kubeconfig, args, { input, timeoutMs = 60_000 } = {}) {
  const r = spawnSync(bin, ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input, timeout: timeoutMs, killSignal: 'SIGKILL' });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? r.error.message : '') };
}

function kubectlOk(bin, kubeconfig, args, opts) {
  const r = kubectl(bin, kubeconfig, args, opts);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} → ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** GET https://127.0.0.1:port/path with a client certificate; resolves to the status code, or 0 when unreachable. */
function httpsStatus({ port, path, ca, cert, key }) {
  return new Promise((resolve) => {
    const req = https.get({
      host: '127.0.0.1', port, path, timeout: 3000,
      ca: fs.readFileSync(ca), cert: cert && fs.readFileSync(cert), key: key && fs.readFileSync(key),
    }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** GET http://127.0.0.1:port/path; resolves to the status code, or 0. */
function httpStatus(port, path) {
  return new Promise((resolve) => {
    const req = require('node:http').get({ host: '127.0.0.1', port, path, timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

module.exports = { kubectl, kubectlOk, httpsStatus, httpStatus };
