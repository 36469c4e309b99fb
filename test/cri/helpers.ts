/**
 * berthd test material: a real berthd process (build/bin/berthd) per call with its own root, state and socket,
 * berthctl run as a real client, a throttling proxy in front of a registry, and a busybox image for the
 * registry. Every berthd started here is killed by pid in `stopBerthds` (and dies with the test process).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { criServices } from '../../src/cri/proto/load';
import { pushImage, tempDir, type PushedImage } from '../image/helpers';

export const REPO = path.resolve(__dirname, '..', '..');
export const BERTHD = path.join(REPO, 'build', 'bin', 'berthd');
export const BERTHCTL = path.join(REPO, 'build', 'bin', 'berthctl');

/** Fails loudly when the binaries were not built: the suites test the bundles, as they ship. */
export function requireBuilt(): void {
  for (const b of [BERTHD, BERTHCTL]) {
    if (!fs.existsSync(b)) throw new Error(`${b} is missing: run npm run build`);
  }
}

export interface Berthd {
  pid: number;
  dir: string;
  root: string;
  state: string;
  socket: string;
  endpoint: string;
  child: ChildProcess;
  /** Everything berthd wrote to stderr so far (JSON log lines). */
  logs(): string;
  /** SIGTERM (or `signal`) and wait; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL and wait (a crash). */
  kill9(): Promise<void>;
}

const running = new Set<Berthd>();

export interface BerthdOptions {
  /** The config document; written to <dir>/config.yaml and passed with --config. */
  config?: Record<string, unknown>;
  /** Reuse a root and state (restart after a crash). */
  dir?: string;
  args?: string[];
  /** Where the socket will be when `args` or `config` move it (--listen). */
  socket?: string;
  /** Extra environment (e.g. BERTH_CRASH_AT for the crash-recovery tests). */
  env?: Record<string, string>;
}

/** Starts build/bin/berthd and waits until its socket accepts connections. */
export async function startBerthd(o: BerthdOptions = {}): Promise<Berthd> {
  const dir = o.dir ?? tempDir('berth-cri-');
  const root = path.join(dir, 'root');
  const state = path.join(dir, 'state');
  const socket = o.socket ?? path.join(state, 'berthd.sock');
  const args = ['--root', root, '--state', state, '--log-level', 'debug', ...(o.args ?? [])];
  if (o.config) {
    const file = path.join(dir, 'config.yaml');
    fs.writeFileSync(file, stringify(o.config));
    args.push('--config', file);
  }
  // setpriv --pdeathsig: berthd dies with the test process even if jest itself crashes (same pid: setpriv execs).
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', BERTHD, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...o.env } });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const b: Berthd = {
    pid: child.pid!, dir, root, state, socket, endpoint: `unix://${socket}`, child,
    logs: () => stderr,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
      const code = await exited;
      running.delete(b);
      return code;
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      await exited;
      running.delete(b);
    },
  };
  running.add(b);
  const deadline = Date.now() + 15000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`berthd exited (${child.exitCode}): ${stderr}`);
    if (await connects(socket)) return b;
    if (Date.now() > deadline) throw new Error(`berthd did not listen on ${socket}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function stopBerthds(): Promise<void> {
  for (const b of [...running]) await b.kill9();
}

function connects(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** berthctl against `endpoint`, asynchronously (test servers in this process keep running meanwhile). */
export function berthctl(endpoint: string | undefined, ...args: string[]): Promise<Run> {
  const argv = endpoint ? ['--runtime-endpoint', endpoint, ...args] : args;
  return new Promise((resolve) => {
    execFile(BERTHCTL, argv, { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

/** Runs berthd to completion (for commands that exit: --help, bad config). */
export function berthdSync(args: string[]): Run {
  const r = spawnSync(BERTHD, args, { encoding: 'utf8', timeout: 20000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A busybox image (the static binary plus a marker file, two layers) pushed as `repo:tag`. */
export function pushBusybox(host: string, repo = 'busybox', tag = 'latest'): Promise<PushedImage> {
  return pushImage(host, repo, tag, [
    { 'bin/busybox': { copyFrom: '/bin/busybox' } },
    { 'etc/berth-fixture': `${repo}:${tag}\n` },
  ]);
}

/** An image with one big incompressible layer (for pulls that take a while behind a slow proxy). */
export function pushBigImage(host: string, repo: string, megabytes: number): Promise<PushedImage> {
  return pushImage(host, repo, 'latest', [
    { 'bin/busybox': { copyFrom: '/bin/busybox' } },
    { 'data/random.bin': randomBytes(megabytes * 1024 * 1024) },
  ]);
}

export interface SlowProxy {
  host: string;
  /** Bytes of blob bodies sent to clients so far. */
  blobBytesSent(): number;
  stop(): Promise<void>;
}

/** A proxy to a registry that sends blob bodies at `bytesPerSecond` (in 16 KiB steps). */
export async function startSlowProxy(targetPort: number, bytesPerSecond: number): Promise<SlowProxy> {
  let sent = 0;
  const chunk = 16 * 1024;
  const interval = Math.max(1, Math.round((chunk / bytesPerSecond) * 1000));
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (!/\/blobs\/sha256:/.test(req.url ?? '') || req.method !== 'GET') {
        ur.pipe(res);
        return;
      }
      // Throttle: buffer what the registry sends, release 16 KiB per tick.
      const pending: Buffer[] = [];
      let ended = false;
      ur.on('data', (c: Buffer) => pending.push(c));
      ur.on('end', () => (ended = true));
      const timer = setInterval(() => {
        let buf = Buffer.concat(pending.splice(0));
        if (buf.length > chunk) {
          pending.unshift(buf.subarray(chunk));
          buf = buf.subarray(0, chunk);
        }
        if (buf.length > 0) {
          sent += buf.length;
          res.write(buf);
        } else if (ended) {
          clearInterval(timer);
          res.end();
        }
      }, interval);
      res.on('close', () => {
        clearInterval(timer);
        ur.destroy();
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    blobBytesSent: () => sent,
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** Removes every pod berthd lists (a suite's afterEach and afterAll, also after a failed test). */
export async function removeAllPods(cri: CriClient): Promise<void> {
  const pods = await cri.runtime<{ items: Array<{ id: string }> }>('ListPodSandbox', {}).catch(() => ({ items: [] }));
  for (const p of pods.items) await cri.runtime('RemovePodSandbox', { podSandboxId: p.id }).catch(() => undefined);
}

/** A suite's end for berthd: its pods removed, the client closed, every berthd stopped, then `berthd`'s shim. */
export async function shutDownBerthd(cri: CriClient | undefined, berthd: Berthd | undefined): Promise<void> {
  if (cri) {
    await removeAllPods(cri);
    cri.close();
  }
  await stopBerthds();
  if (berthd) killShim(berthd.state);
}

/** A CNI conflist in `netDir` for berth-bridge with host-local IPAM: one bridge, one IPv4 subnet, no masquerade. */
export function writeBridgeNetwork(netDir: string, o: { name: string; bridge: string; subnet: string; ipamDir: string }): void {
  fs.mkdirSync(netDir, { recursive: true });
  fs.writeFileSync(path.join(netDir, '10-test.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: o.name,
    plugins: [{ type: 'berth-bridge', bridge: o.bridge, isGateway: true, ipMasq: false, ipam: { type: 'berth-host-local', dataDir: o.ipamDir, ranges: [[{ subnet: o.subnet }]] } }],
  }));
}

/** Every path under `dir`, relative. */
export function walk(dir: string): string[] {
  const out: string[] = [];
  const rec = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) rec(path.join(d, e.name), r);
    }
  };
  if (fs.existsSync(dir)) rec(dir, '');
  return out;
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A promise-returning CRI client (RuntimeService and ImageService) on `endpoint`, as the kubelet's. */
export interface CriClient {
  runtime<Res = Record<string, unknown>>(method: string, req?: unknown): Promise<Res>;
  image<Res = Record<string, unknown>>(method: string, req?: unknown): Promise<Res>;
  /** The gRPC error a call fails with (the test fails when it succeeds). */
  runtimeError(method: string, req?: unknown): Promise<grpc.ServiceError>;
  raw: { runtime: grpc.Client; image: grpc.Client };
  close(): void;
}

export function criClient(endpoint: string): CriClient {
  const defs = criServices();
  const R = grpc.makeClientConstructor(defs.runtime, 'RuntimeService');
  const I = grpc.makeClientConstructor(defs.image, 'ImageService');
  const runtime = new R(endpoint, grpc.credentials.createInsecure());
  const image = new I(endpoint, grpc.credentials.createInsecure());
  const call = <Res>(c: grpc.Client, method: string, req: unknown): Promise<Res> => new Promise((resolve, reject) => {
    const fn = (c as unknown as Record<string, (r: unknown, cb: (e: grpc.ServiceError | null, res: Res) => void) => void>)[method];
    if (!fn) throw new Error(`no method ${method}`);
    fn.call(c, req ?? {}, (e, res) => (e ? reject(e) : resolve(res)));
  });
  return {
    runtime: (m, req) => call(runtime, m, req),
    image: (m, req) => call(image, m, req),
    async runtimeError(m, req) {
      try {
        await call(runtime, m, req);
      } catch (err) {
        return err as grpc.ServiceError;
      }
      throw new Error(`${m} succeeded; an error was expected`);
    },
    raw: { runtime, image },
    close() {
      runtime.close();
      image.close();
    },
  };
}

/** Kills the berth-shim a berthd started under `state` (its containers' monitors are the test's to remove). */
export function killShim(state: string): void {
  const pidFile = path.join(state, 'shim', 'shim.pid');
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').split(' ')[0]);
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // no shim was started
  }
}
