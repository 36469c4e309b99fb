/**
 * berthd as a process: flags, bad config, its socket (root-only, stale one replaced, one berthd per socket),
 * instances side by side, Version and an UNIMPLEMENTED RPC over gRPC, shutdown on SIGTERM and SIGINT.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { criServices } from '../../src/cri/proto/load';
import { cleanupTempDirs, tempDir } from '../image/helpers';
import { berthctl, berthdSync, requireBuilt, startBerthd, stopBerthds, walk } from './helpers';

jest.setTimeout(60000);

beforeAll(() => requireBuilt());
afterAll(async () => {
  try {
    await stopBerthds();
  } finally {
    cleanupTempDirs();
  }
});

test('--help and --version', () => {
  const h = berthdSync(['--help']);
  expect(h.status).toBe(0);
  for (const f of ['--config', '--root', '--state', '--listen', '--log-level', '--version']) expect(h.stdout).toContain(f);
  const v = berthdSync(['--version']);
  expect(v.stdout).toMatch(/^berthd version \d+\.\d+\.\d+/);
  const ctl = berthdSync(['--bogus']);
  expect(ctl.status).toBe(1);
  expect(ctl.stderr).toContain('--bogus: unknown flag');
});

test('a bad config: a clear error naming the key, exit 1, nothing created', () => {
  const dir = tempDir('berth-cri-badcfg-');
  const cases: Array<[string, RegExp]> = [
    ['registries:\n  "registry.k8s.io": {mirrors: ["ftp://x"]}\n', /config\.yaml: registries\."registry\.k8s\.io"\.mirrors\[0\]: /],
    ['maxConcurrentDownloads: 0\n', /maxConcurrentDownloads: must be an integer from 1 to 64/],
    ['cni: {binDirs: [/opt/cni/bin, relative/dir]}\n', /cni\.binDirs\[1\]: must be an absolute path/],
    ['runtimes:\n  runc: {path: runc}\n', /runtimes\.runc\.path: must be an absolute path/],
    ['streaming: {address: "127.0.0.1"}\n', /streaming\.address: /],
    ['registris: {}\n', /registris: unknown key/],
    ['root: [\n', /config\.yaml:\d+:\d+: /],
  ];
  for (const [text, expected] of cases) {
    const file = path.join(dir, 'config.yaml');
    fs.writeFileSync(file, text);
    const r = berthdSync(['--config', file, '--root', path.join(dir, 'root'), '--state', path.join(dir, 'state')]);
    expect({ text, status: r.status }).toEqual({ text, status: 1 });
    expect(r.stderr).toMatch(expected);
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'state'))).toBe(false);
  }
  const missing = berthdSync(['--config', path.join(dir, 'nope.yaml')]);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toContain(`config file ${path.join(dir, 'nope.yaml')}`);
});

test('--check-config prints the effective config with defaults', () => {
  const dir = tempDir('berth-cri-cfg-');
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, 'runtimes:\n  runc: {path: /usr/sbin/runc}\n');
  const r = berthdSync(['--config', file, '--state', '/run/berth-test-x', '--check-config']);
  expect(r.status).toBe(0);
  const cfg = JSON.parse(r.stdout);
  expect(cfg).toMatchObject({
    root: '/var/lib/berth', state: '/run/berth-test-x', listen: '/run/berth-test-x/berthd.sock', maxConcurrentDownloads: 3,
    cni: { confDir: '/etc/cni/net.d', binDirs: ['/opt/cni/bin', '/usr/lib/cni'] }, runtimes: { runc: { path: '/usr/sbin/runc' } },
    streaming: { address: '127.0.0.1:0' },
  });
});

test('the socket is 0600 in a 0700 directory, owned by root', async () => {
  const b = await startBerthd();
  const st = fs.statSync(b.socket);
  expect(st.isSocket()).toBe(true);
  expect(st.mode & 0o777).toBe(0o600);
  expect(st.uid).toBe(0);
  expect(fs.statSync(path.dirname(b.socket)).mode & 0o777).toBe(0o700);
  expect(await b.stop()).toBe(0);
});

test('Version over gRPC (runtime name berth, so kubelet reports berth://<version>); CheckpointContainer answers UNIMPLEMENTED', async () => {
  const b = await startBerthd();
  const v = await berthctl(b.endpoint, 'version');
  expect(v.stdout).toMatch(/^Version:  0\.1\.0\nRuntimeName:  berth\nRuntimeVersion:  \d+\.\d+\.\d+\S*\nRuntimeApiVersion:  v1\n$/);

  const Client = grpc.makeClientConstructor(criServices().runtime, 'RuntimeService');
  const c = new Client(b.endpoint, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (req: unknown, cb: (err: grpc.ServiceError | null) => void) => void>;
  try {
    const err = await new Promise<grpc.ServiceError | null>((resolve) => c.CheckpointContainer({ containerId: 'x' }, (e) => resolve(e)));
    expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err?.details).toMatch(/CheckpointContainer is not supported/);
    const listed = await new Promise<grpc.ServiceError | null>((resolve) => c.ListContainers({}, (e) => resolve(e)));
    expect(listed).toBeNull();
  } finally {
    c.close();
  }
  await b.stop();
});

/** A unary gRPC call by hand over `session` (nghttp2's encoder: Huffman, dynamic table): status and reply. */
function rawUnary(session: http2.ClientHttp2Session, method: string, authority: string): Promise<{ status?: string; message: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': method, ':authority': authority, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('trailers', (t) => { status = String(t['grpc-status']); });
    req.on('error', reject);
    req.on('close', () => resolve({ status, message: Buffer.concat(chunks).subarray(5) }));
    req.end(Buffer.alloc(5)); // an empty message: no compression, length 0
  });
}

test('clients that send the socket path as :authority (crictl/kubelet before cri-client, grpc-java) are served', async () => {
  const b = await startBerthd();
  for (const authority of [b.socket, 'localhost', b.socket]) {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(b.socket) });
    try {
      // Several calls per connection: after the first, nghttp2's encoder sends the authority as a table index.
      for (let i = 0; i < 3; i++) {
        const r = await rawUnary(session, '/runtime.v1.RuntimeService/Version', authority);
        expect(r.status).toBe('0');
        expect(r.message.toString('latin1')).toMatch(/berth[^]*v1/);
      }
    } finally {
      session.close();
    }
  }
  // Two connections were rewritten; the one with a valid authority got the socket as it is.
  const rewrites = b.logs().split('\n').filter((l) => l.includes('rewriting it for this connection'));
  expect(rewrites).toHaveLength(2);
  expect(JSON.parse(rewrites[0]).authority).toBe(b.socket);
  expect((await berthctl(b.endpoint, 'version')).status).toBe(0);
  await b.stop();
});

test('a second berthd on the same socket refuses to start and leaves the first serving', async () => {
  const a = await startBerthd();
  const r = berthdSync(['--root', path.join(a.dir, 'root2'), '--state', a.state]);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`another berthd is serving on ${a.socket}`);
  expect((await berthctl(a.endpoint, 'version')).status).toBe(0);
  await a.stop();
});

test('a stale socket from a crash is replaced; a non-socket file is left alone', async () => {
  const a = await startBerthd();
  await a.kill9();
  expect(fs.existsSync(a.socket)).toBe(true); // kill -9 leaves it
  const b = await startBerthd({ dir: a.dir });
  expect((await berthctl(b.endpoint, 'version')).status).toBe(0);
  await b.stop();

  const dir = tempDir('berth-cri-notsock-');
  fs.mkdirSync(path.join(dir, 'state'));
  const file = path.join(dir, 'state', 'berthd.sock');
  fs.writeFileSync(file, 'precious');
  const r = berthdSync(['--root', path.join(dir, 'root'), '--state', path.join(dir, 'state')]);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('exists and is not a socket');
  expect(fs.readFileSync(file, 'utf8')).toBe('precious');
});

test('another program listening on the socket path is not displaced', async () => {
  const dir = tempDir('berth-cri-other-');
  fs.mkdirSync(path.join(dir, 'state'), { mode: 0o700 });
  const sock = path.join(dir, 'state', 'berthd.sock');
  const other = net.createServer((c) => c.end());
  await new Promise<void>((r) => other.listen(sock, r));
  try {
    const r = berthdSync(['--root', path.join(dir, 'root'), '--state', path.join(dir, 'state')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`another program is listening on ${sock}`);
    expect(fs.statSync(sock).isSocket()).toBe(true);
  } finally {
    await new Promise((r) => other.close(r));
  }
});

test('two berthd side by side with their own root, state and socket', async () => {
  const a = await startBerthd();
  const b = await startBerthd();
  expect(a.socket).not.toBe(b.socket);
  const [va, vb] = await Promise.all([berthctl(a.endpoint, 'version'), berthctl(b.endpoint, 'version')]);
  expect(va.status).toBe(0);
  expect(vb.status).toBe(0);
  expect(await a.stop()).toBe(0);
  // b is unaffected by a's shutdown.
  expect((await berthctl(b.endpoint, 'images')).status).toBe(0);
  expect(await b.stop()).toBe(0);
});

test('--listen puts the socket elsewhere; SIGINT stops berthd like SIGTERM', async () => {
  const dir = tempDir('berth-cri-listen-');
  const sock = path.join(dir, 'sockets', 'b.sock');
  const b = await startBerthd({ args: ['--listen', `unix://${sock}`], socket: sock });
  expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
  expect(fs.statSync(path.dirname(sock)).mode & 0o777).toBe(0o700);
  expect(fs.existsSync(path.join(b.state, 'berthd.sock'))).toBe(false);
  expect((await berthctl(`unix://${sock}`, 'version')).status).toBe(0);
  expect(await b.stop('SIGINT')).toBe(0);
  expect(walk(path.dirname(sock))).toEqual([]);
});

test('a client that cannot reach berthd gets a clear error', async () => {
  const r = await berthctl('unix:///nonexistent/berthd.sock', 'images');
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^berthctl: cannot connect to berthd at unix:\/\/\/nonexistent\/berthd\.sock: /);
});
