/**
 * Test material for the image suites: Debian's docker-registry started on 127.0.0.1 with a generated config
 * (plain, htpasswd, TLS, token auth), our own push code (blob uploads + manifest PUT per the distribution spec),
 * layers built with tar from real files, a CA made with openssl, a bearer token server, and a fault-injecting
 * proxy. Every process started here is killed by pid in `stopAll`.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createSign, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { BerthError } from '../../src/common/errors';
import { removeTempDirs, trackTempDir } from '../helpers/cleanup';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

/** Fails loudly when something the suite needs is missing: tests never skip silently. */
export function requireTools(...tools: string[]): void {
  if (process.getuid?.() !== 0) throw new Error('these tests need root (tmpfs mounts)');
  for (const t of tools) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) throw new Error(`${t} is missing: install it (hack/deps does)`);
  }
}

const tempDirs: string[] = [];
/** The BerthError `p` rejects with (anything else, or no rejection, fails the test). */
export async function berthErrorOf(p: Promise<unknown>): Promise<BerthError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof BerthError)) throw new Error(`expected a BerthError, got ${err instanceof Error ? err.stack : String(err)}`);
  return err;
}

export function tempDir(prefix = 'berth-image-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  trackTempDir(d);
  return d;
}
/** Removes this helper's temp dirs; one with a mount still below it is kept and reported (see test/helpers/cleanup.ts). */
export function cleanupTempDirs(): void {
  removeTempDirs(tempDirs.splice(0));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitForPort(port: number, child: ChildProcess, log: string, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${fs.readFileSync(log, 'utf8')}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`docker-registry did not listen on ${port}: ${fs.readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RegistryProcess {
  port: number;
  host: string;
  pid: number;
  stop(): Promise<void>;
}

const started: Array<{ stop(): Promise<void> }> = [];

export async function stopAll(): Promise<void> {
  for (const s of started.splice(0).reverse()) await s.stop();
}

export interface RegistryOptions {
  storage: string;
  tls?: { cert: string; key: string; clientCA?: string };
  htpasswd?: string;
  token?: { realm: string; service: string; issuer: string; bundle: string };
}

export async function startRegistry(o: RegistryOptions): Promise<RegistryProcess> {
  const port = await freePort();
  const dir = tempDir('berth-registry-');
  const lines = [
    'version: 0.1',
    'log: {level: warn, accesslog: {disabled: true}}',
    `storage: {filesystem: {rootdirectory: ${JSON.stringify(o.storage)}}, delete: {enabled: true}, maintenance: {uploadpurging: {enabled: false}}}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: berth-test-secret',
  ];
  if (o.tls) {
    lines.push(`  tls: {certificate: ${JSON.stringify(o.tls.cert)}, key: ${JSON.stringify(o.tls.key)}${o.tls.clientCA ? `, clientcas: [${JSON.stringify(o.tls.clientCA)}]` : ''}}`);
  }
  if (o.htpasswd) lines.push(`auth: {htpasswd: {realm: berth-test, path: ${JSON.stringify(o.htpasswd)}}}`);
  if (o.token) {
    lines.push(`auth: {token: {realm: ${JSON.stringify(o.token.realm)}, service: ${o.token.service}, issuer: ${o.token.issuer}, rootcertbundle: ${JSON.stringify(o.token.bundle)}}}`);
  }
  const cfg = path.join(dir, 'config.yml');
  fs.writeFileSync(cfg, lines.join('\n') + '\n');
  const log = path.join(dir, 'registry.log');
  const fd = fs.openSync(log, 'w');
  // setpriv --pdeathsig: the registry dies with the test process even if jest itself crashes (setpriv execs it: same pid).
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', REGISTRY_BIN, 'serve', cfg], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const pid = child.pid!;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(pid, 'SIGKILL');
      await exited;
    }
  };
  started.push({ stop });
  await waitForPort(port, child, log);
  return { port, host: `127.0.0.1:${port}`, pid, stop };
}

// ---- push (distribution spec: POST + PUT monolithic upload, PUT manifest) ----

function request(method: string, url: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const r = http.request(url, { method, headers: { ...headers, 'content-length': String(body?.length ?? 0) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Blob {
  digest: string;
  size: number;
  data: Buffer;
  mediaType: string;
}

export async function pushBlob(host: string, repo: string, data: Buffer, mediaType: string): Promise<Blob> {
  const digest = sha256(data);
  const start = await request('POST', `http://${host}/v2/${repo}/blobs/uploads/`, {});
  if (start.status !== 202) throw new Error(`upload start ${start.status}: ${start.body}`);
  const loc = new URL(String(start.headers.location), `http://${host}`);
  loc.searchParams.set('digest', digest);
  const put = await request('PUT', loc.href, { 'content-type': 'application/octet-stream' }, data);
  if (put.status !== 201) throw new Error(`blob PUT ${put.status}: ${put.body}`);
  return { digest, size: data.length, data, mediaType };
}

export async function pushManifest(host: string, repo: string, ref: string, doc: unknown, mediaType: string): Promise<Blob> {
  const data = Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc));
  const r = await request('PUT', `http://${host}/v2/${repo}/manifests/${ref}`, { 'content-type': mediaType }, data);
  if (r.status !== 201) throw new Error(`manifest PUT ${repo}:${ref} ${r.status}: ${r.body}`);
  return { digest: sha256(data), size: data.length, data, mediaType };
}

/** A gzipped tar of `files` (path → content or {link}) built with GNU tar; returns blob bytes and the diff id. */
export function buildLayer(files: Record<string, string | Buffer | { copyFrom: string }>): { gz: Buffer; diffId: string } {
  const dir = tempDir('berth-layer-');
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  for (const [p, content] of Object.entries(files)) {
    const full = path.join(root, p);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    if (typeof content === 'object' && 'copyFrom' in content) fs.copyFileSync(content.copyFrom, full);
    else fs.writeFileSync(full, content);
  }
  const tar = execFileSync('tar', ['-C', root, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '.'], { maxBuffer: 1 << 30 });
  return { gz: zlib.gzipSync(tar), diffId: sha256(tar) };
}

export interface PushedImage {
  repo: string;
  tag: string;
  manifest: Blob;
  config: Blob;
  layers: Blob[];
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** Pushes an image made of `layers` (each a file map) with an OCI or Docker schema2 manifest. */
export async function pushImage(host: string, repo: string, tag: string | undefined, layers: Array<Record<string, string | Buffer | { copyFrom: string }>>, o: { docker?: boolean; arch?: string; variant?: string; annotations?: Record<string, string> } = {}): Promise<PushedImage> {
  const built = layers.map(buildLayer);
  const layerType = o.docker ? DOCKER_LAYER : OCI_LAYER_GZIP;
  const pushed: Blob[] = [];
  for (const l of built) pushed.push(await pushBlob(host, repo, l.gz, layerType));
  const config = {
    architecture: o.arch ?? 'amd64', ...(o.variant ? { variant: o.variant } : {}), os: 'linux',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'], Labels: { nonce: randomBytes(8).toString('hex') } },
    rootfs: { type: 'layers', diff_ids: built.map((l) => l.diffId) },
  };
  const cfg = await pushBlob(host, repo, Buffer.from(JSON.stringify(config)), o.docker ? DOCKER_CONFIG : OCI_CONFIG);
  const mediaType = o.docker ? DOCKER_MANIFEST : OCI_MANIFEST;
  const manifest = {
    schemaVersion: 2, mediaType,
    config: { mediaType: cfg.mediaType, digest: cfg.digest, size: cfg.size },
    layers: pushed.map((b) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })),
    ...(o.annotations ? { annotations: o.annotations } : {}),
  };
  const m = await pushManifest(host, repo, tag ?? sha256(JSON.stringify(manifest)), manifest, mediaType);
  return { repo, tag: tag ?? m.digest, manifest: m, config: cfg, layers: pushed };
}

/** A blob file inside the registry's filesystem storage (for tampering). */
export function registryBlobFile(storage: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

// ---- TLS material ----

export interface Pki {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}

export function makePki(): Pki {
  const dir = tempDir('berth-pki-');
  const f = (n: string) => path.join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=berth test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr'));
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('server.ext'), '-out', f('server.pem'));
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=berth client', '-keyout', f('client.key'), '-out', f('client.csr'));
  fs.writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  ossl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('client.ext'), '-out', f('client.pem'));
  return { dir, ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

/** An htpasswd file with bcrypt entries (apache2-utils' htpasswd -B). */
export function makeHtpasswd(users: Record<string, string>): string {
  const file = path.join(tempDir('berth-htpasswd-'), 'htpasswd');
  const lines = Object.entries(users).map(([u, p]) => execFileSync('htpasswd', ['-nbB', u, p], { encoding: 'utf8' }).trim());
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

// ---- bearer token server (JWT RS256 with x5c, as the distribution registry's token auth verifies) ----

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  bundle: string;
  requests: string[];
  stop(): Promise<void>;
}

/** `users`: name → {password, actions granted on every repository}. Anonymous requests get 401. */
export async function startTokenServer(users: Record<string, { password: string; actions: string[] }>): Promise<TokenServer> {
  const dir = tempDir('berth-token-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=berth token signer', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const key = fs.readFileSync(path.join(dir, 'key.pem'));
  const certPem = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  const der = certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const service = 'berth-test-registry';
  const issuer = 'berth-test-issuer';
  const requests: string[] = [];
  const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    const authz = req.headers.authorization;
    let user: string | undefined;
    if (authz?.startsWith('Basic ')) {
      const [u, p] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (users[u]?.password !== p) {
        res.writeHead(401).end('bad credentials');
        return;
      }
      user = u;
    }
    if (!user) {
      res.writeHead(401).end('credentials required');
      return;
    }
    const access = url.searchParams.getAll('scope').map((s) => {
      const [type, name] = s.split(':');
      return { type, name, actions: users[user!].actions };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der] };
    const claims = { iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signingInput = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(signingInput).sign(key);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${signingInput}.${b64u(sig)}`, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const stop = () => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
  started.push({ stop });
  return { realm: `http://127.0.0.1:${port}/token`, service, issuer, bundle: path.join(dir, 'cert.pem'), requests, stop };
}

// ---- fault-injecting proxy ----

export type Fault =
  | { status: number; headers?: Record<string, string>; body?: string }
  | { cutAfter: number }
  | { setHeaders: Record<string, string> }
  /** Relays the response body slowly: `delayMs` after every chunk of at most `chunk` bytes. */
  | { slow: { chunk: number; delayMs: number } }
  | undefined;

export interface FaultProxy {
  host: string;
  port: number;
  log: Array<{ method: string; url: string; range?: string; fault?: string }>;
  rule: (req: http.IncomingMessage, n: number) => Fault;
  stop(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<FaultProxy> {
  const p: FaultProxy = { host: '', port: 0, log: [], rule: () => undefined, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const fault = p.rule(req, p.log.length);
    p.log.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range, fault: fault ? JSON.stringify(fault) : undefined });
    if (fault && 'status' in fault) {
      res.writeHead(fault.status, fault.headers).end(fault.body ?? '');
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const headers = { ...ur.headers, ...(fault && 'setHeaders' in fault ? fault.setHeaders : {}) };
      res.writeHead(ur.statusCode ?? 502, headers);
      if (fault && 'cutAfter' in fault) {
        let n = 0;
        ur.on('data', (c: Buffer) => {
          if (n + c.length >= fault.cutAfter) {
            res.write(c.subarray(0, fault.cutAfter - n), () => res.socket?.destroy());
            ur.destroy();
            n = Infinity;
          } else {
            n += c.length;
            res.write(c);
          }
        });
        ur.on('end', () => res.end());
      } else if (fault && 'slow' in fault) {
        const { chunk, delayMs } = fault.slow;
        (async () => {
          for await (const c of ur) {
            for (let i = 0; i < (c as Buffer).length; i += chunk) {
              if (res.destroyed) return;
              res.write((c as Buffer).subarray(i, i + chunk));
              await new Promise((r) => setTimeout(r, delayMs));
            }
          }
          res.end();
        })().catch(() => res.destroy());
      } else ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  p.port = (server.address() as net.AddressInfo).port;
  p.host = `127.0.0.1:${p.port}`;
  p.stop = () => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
  started.push({ stop: p.stop });
  return p;
}

export function mountTmpfs(sizeKb: number): { dir: string; unmount(): void } {
  const dir = tempDir('berth-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'berth-test-tmpfs', dir]);
  let mounted = true;
  return {
    dir,
    unmount() {
      if (mounted) execFileSync('umount', [dir]);
      mounted = false;
    },
  };
}
