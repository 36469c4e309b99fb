/**
 * berthd's streaming server end to end: a real berth-shim and busybox containers behind a StreamingServer
 * with the shim backend; clients speaking SPDY/3.1 (v4 down to v1) and WebSocket (v5, v4, base64) for exec
 * and attach, port forwarding over both into a network namespace, and the one-time tokens.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { silentLogger } from '../../src/common/log';
import { ShimStreamingBackend, StreamingServer, type ExecStreamRequest } from '../../src/cri/streaming';
import { addNetns, deleteNetns } from '../helpers/netns';
import { cleanupTempDirs, requireTools, tempDir } from '../helpers/oci';
import { requireShimTools, shBundle, ShimUnderTest, taskId } from '../shim/helpers';
import { answerTo, resizeMessage, spdyCommand, spdyConnect, spdyForward, wsCommand, wsConnect } from './streaming-clients';

requireShimTools();
requireTools('ip');

const shim = new ShimUnderTest();
const netns = new Map<string, string>();
const backend = new ShimStreamingBackend({ shim: async () => shim.client, netnsOf: (id) => netns.get(id), log: silentLogger });
let server: StreamingServer;
let sleeper: string;
let printer: string;
const nsName = `bstream-${process.pid}`;
let nsServer: ChildProcess | undefined;
let ports: { echo: number; digest: number; echo6: number };
let hostEcho: net.Server | undefined;
const IPV6 = fs.existsSync('/proc/sys/net/ipv6');

/** In the pod's namespace: an echo server (half-close mirrored), a digest one (answers once input ends), echo on ::1. */
const NS_SERVERS = `
const net = require('net');
const crypto = require('crypto');
const echo = (c) => { c.on('error', () => {}); c.pipe(c); };
const digest = (c) => {
  const h = crypto.createHash('sha256');
  let n = 0;
  c.on('data', (d) => { n += d.length; h.update(d); });
  c.on('end', () => c.end(n + ' ' + h.digest('hex') + '\\n'));
};
const listen = (handler, host) => new Promise((resolve) => {
  const s = net.createServer({ allowHalfOpen: true }, handler);
  s.on('error', () => resolve(0));
  s.listen(0, host, () => resolve(s.address().port));
});
Promise.all([listen(echo, '127.0.0.1'), listen(digest, '127.0.0.1'), process.argv[2] === '6' ? listen(echo, '::1') : 0])
  .then((p) => console.log('listening ' + p.join(' ')));
`;

beforeAll(async () => {
  await shim.start();
  sleeper = taskId('strm');
  await shim.client.create({ id: sleeper, bundle: shBundle('sleep 1000') });
  await shim.client.start({ id: sleeper });
  printer = taskId('strm');
  await shim.client.create({ id: printer, bundle: shBundle('i=0; while :; do echo line-$i; i=$((i+1)); sleep 0.1; done') });
  await shim.client.start({ id: printer });
  server = new StreamingServer({ address: '127.0.0.1:0', backend, log: silentLogger });
  await server.start();

  const nsPath = addNetns(nsName);
  execFileSync('ip', ['-n', nsName, 'link', 'set', 'lo', 'up']);
  netns.set('pod-in-netns', nsPath);
  const script = path.join(tempDir('bstream-'), 'servers.js');
  fs.writeFileSync(script, NS_SERVERS);
  nsServer = spawn('ip', ['netns', 'exec', nsName, process.execPath, script, IPV6 ? '6' : '4'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    nsServer!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    nsServer!.once('exit', (code) => reject(new Error(`servers in the netns exited with ${code}`)));
  });
  const [echo, digest, echo6] = line.replace('listening ', '').split(' ').map(Number);
  ports = { echo, digest, echo6 };

  hostEcho = net.createServer({ allowHalfOpen: true }, (c) => c.pipe(c));
  await new Promise<void>((r) => hostEcho!.listen(0, '127.0.0.1', r));
}, 120000);

afterAll(async () => {
  try {
    await server?.close();
    if (nsServer && nsServer.exitCode === null) {
      const gone = new Promise((r) => nsServer!.once('exit', r));
      nsServer.kill('SIGKILL');
      await gone;
    }
    await new Promise((r) => (hostEcho ? hostEcho.close(r) : r(undefined)));
  } finally {
    deleteNetns(nsName);
    await shim.cleanup();
    cleanupTempDirs();
  }
});

const exec = (cmd: string[], o: Partial<ExecStreamRequest> = {}): string =>
  server.urlFor('exec', { containerId: sleeper, cmd, tty: false, stdin: false, stdout: true, stderr: false, ...o });
const status = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;

/** Execs are removed once their session ends: the container has none left. */
async function noExecsLeft(): Promise<void> {
  for (let i = 0; i < 100 && (await shim.client.state({ id: sleeper })).execIds.length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect((await shim.client.state({ id: sleeper })).execIds).toEqual([]);
}

describe('exec over SPDY', () => {
  test('v4: stdout, then a Success status on the error stream', async () => {
    const c = await spdyCommand(exec(['echo', 'hello']), {});
    expect(c.protocol).toBe('v4.channel.k8s.io');
    const r = await c.done;
    expect(r.stdout).toBe('hello\n');
    expect(r.error).toBe('{"metadata":{},"status":"Success"}');
    await noExecsLeft();
  });

  test('v4: stdout and stderr apart; a non-zero exit is a NonZeroExitCode failure carrying the code', async () => {
    const c = await spdyCommand(exec(['sh', '-c', 'echo out; echo err >&2; exit 3'], { stderr: true }), { stderr: true });
    const r = await c.done;
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(status(r.error)).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  });

  test('v4: stdin piped to cat until the client half-closes it', async () => {
    const input = `hello\n${randomBytes(150000).toString('hex')}\nworld\n`;
    const c = await spdyCommand(exec(['cat'], { stdin: true }), { stdin: true });
    c.stdin!.end(input);
    const r = await c.done;
    expect(r.stdout.length).toBe(input.length);
    expect(r.stdout).toBe(input);
    expect(status(r.error).status).toBe('Success');
  });

  test('v4: a terminal, resized through the resize stream', async () => {
    const c = await spdyCommand(exec(['sh', '-c', 'read x; stty size; exit 4'], { tty: true, stdin: true }), { tty: true, stdin: true });
    c.resize!.write(resizeMessage(100, 40));
    await new Promise((r) => setTimeout(r, 200));
    c.stdin!.write('go\n');
    const r = await c.done;
    expect(r.stdout).toContain('40 100');
    expect(status(r.error)).toMatchObject({ reason: 'NonZeroExitCode', details: { causes: [{ message: '4' }] } });
  });

  test.each([['v3.channel.k8s.io'], ['v2.channel.k8s.io'], ['channel.k8s.io']])('%s: the error stream has only a failure, as text', async (protocol) => {
    const ok = await spdyCommand(exec(['echo', 'fine']), { protocols: [protocol] });
    expect(ok.protocol).toBe(protocol);
    expect(await ok.done).toEqual({ stdout: 'fine\n', stderr: '', error: '' });
    const bad = await spdyCommand(exec(['sh', '-c', 'exit 2']), { protocols: [protocol] });
    expect((await bad.done).error).toBe('command terminated with non-zero exit code: exit status 2');
  });

  test('negotiation: the client\'s first known protocol; none known is 403, none given 400', async () => {
    const c = await spdyCommand(exec(['true']), { protocols: ['v9.channel.k8s.io', 'v3.channel.k8s.io', 'v4.channel.k8s.io'] });
    expect(c.protocol).toBe('v3.channel.k8s.io');
    await c.done;
    const refused = await answerTo(exec(['true']), 'spdy', 'v9.channel.k8s.io');
    expect(refused.status).toBe(403);
    expect(refused.headers['x-accepted-stream-protocol-versions']).toBe('v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io');
    expect(refused.body).toContain('unable to negotiate protocol');
    const none = await answerTo(exec(['true']), 'spdy', '');
    expect(none.status).toBe(400);
  });
});

describe('exec over WebSocket', () => {
  test('v5: the ready message, stdin ended by the close signal, stdout, Success, a normal close', async () => {
    const c = await wsCommand(exec(['cat'], { stdin: true }), 'v5.channel.k8s.io');
    expect(c.protocol).toBe('v5.channel.k8s.io');
    c.send(0, 'hello\n');
    c.send(0, 'again\n');
    c.ws.send(Buffer.from([255, 0]));
    const r = await c.done;
    expect(c.messages[0]).toEqual([1, Buffer.alloc(0)]);
    expect(r.stdout).toBe('hello\nagain\n');
    expect(r.error).toBe('{"metadata":{},"status":"Success"}');
    expect(r.closeCode).toBe(1000);
    await noExecsLeft();
  });

  test('v5: stderr apart and the exit code', async () => {
    const c = await wsCommand(exec(['sh', '-c', 'echo out; echo err >&2; exit 5'], { stderr: true }), 'v5.channel.k8s.io');
    const r = await c.done;
    expect([r.stdout, r.stderr]).toEqual(['out\n', 'err\n']);
    expect(status(r.error)).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '5' }] } });
  });

  test('v5: a terminal, resized on channel 4', async () => {
    const c = await wsCommand(exec(['sh', '-c', 'read x; stty size'], { tty: true, stdin: true }), 'v5.channel.k8s.io');
    c.send(4, resizeMessage(120, 33));
    await new Promise((r) => setTimeout(r, 200));
    c.send(0, 'go\n');
    const r = await c.done;
    expect(r.stdout).toContain('33 120');
    expect(status(r.error).status).toBe('Success');
  });

  test('v4: stdin without a close signal, the exit code as JSON', async () => {
    const c = await wsCommand(exec(['sh', '-c', 'read l; echo got:$l; exit 7'], { stdin: true }), 'v4.channel.k8s.io');
    c.send(0, 'x\n');
    const r = await c.done;
    expect(r.stdout).toBe('got:x\n');
    expect(status(r.error)).toMatchObject({ details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
  });

  test('v4.base64 and channel.k8s.io framings', async () => {
    const b = await wsCommand(exec(['echo', 'b64']), 'v4.base64.channel.k8s.io');
    expect(await b.done).toMatchObject({ stdout: 'b64\n', error: '{"metadata":{},"status":"Success"}' });
    const v1 = await wsCommand(exec(['sh', '-c', 'echo v1; exit 1']), 'channel.k8s.io');
    expect(await v1.done).toMatchObject({ stdout: 'v1\n', error: 'command terminated with non-zero exit code: exit status 1' });
    await expect(wsConnect(exec(['true']), ['v9.channel.k8s.io'])).rejects.toThrow(/403/);
  });
});

describe('attach', () => {
  const attach = (): string => server.urlFor('attach', { containerId: printer, tty: false, stdin: false, stdout: true, stderr: false });
  const twoLines = (text: string): boolean => (text.match(/line-\d+\n/g) ?? []).length >= 2;

  test('over SPDY: the running container\'s output; the client leaving leaves the container running', async () => {
    const c = await spdyCommand(attach(), {});
    let out = '';
    await new Promise<void>((resolve) => c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (twoLines(out)) resolve();
    }));
    const closed = new Promise((r) => c.session.once('close', r));
    c.session.destroy();
    await closed;
    expect(out).toMatch(/^line-\d+\nline-\d+\n/);
    await new Promise((r) => setTimeout(r, 200));
    expect((await shim.client.state({ id: printer })).status).toBe('running');
  });

  test('over WebSocket v5', async () => {
    const c = await wsCommand(attach(), 'v5.channel.k8s.io');
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (twoLines(Buffer.concat(c.messages.filter(([ch]) => ch === 1).map(([, d]) => d)).toString())) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
    c.ws.close();
    expect((await c.done).stdout).toMatch(/line-\d+\nline-\d+\n/);
    expect((await shim.client.state({ id: printer })).status).toBe('running');
  });
});

describe('port forward', () => {
  const pf = (sandbox: string, p: number[] = []): string => server.urlFor('portforward', { podSandboxId: sandbox, ports: p });
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

  test('over SPDY into the pod\'s netns: bytes both ways, half-close, two connections on one session', async () => {
    const { session, protocol } = await spdyConnect(pf('pod-in-netns'), ['portforward.k8s.io']);
    expect(protocol).toBe('portforward.k8s.io');
    const big = randomBytes(3 << 20);
    const [echoed, digested] = await Promise.all([
      spdyForward(session, ports.echo, '0', big),
      spdyForward(session, ports.digest, '1', Buffer.from('digest me')),
    ]);
    expect(echoed.error).toBe('');
    expect(echoed.data.length).toBe(big.length);
    expect(sha(echoed.data)).toBe(sha(big));
    expect(digested.data.toString()).toBe(`9 ${sha(Buffer.from('digest me'))}\n`);
    // A later connection on the same session, and one without requestID (older clients).
    expect((await spdyForward(session, ports.echo, undefined, Buffer.from('again'))).data.toString()).toBe('again');
    session.close();
    await new Promise((r) => session.once('close', r));
  });

  test('over SPDY: nothing listening is an error on the error stream, naming the namespace', async () => {
    const { session } = await spdyConnect(pf('pod-in-netns'), ['portforward.k8s.io']);
    const r = await spdyForward(session, 1, '0', Buffer.from('x'));
    expect(r.error).toMatch(/^error forwarding port 1 to pod pod-in-netns: failed to connect to localhost:1 inside namespace "\/var\/run\/netns\/bstream-\d+": Connection refused/);
    session.destroy();
  });

  (IPV6 ? test : test.skip)(`over SPDY: a server on [::1] only is reached too${IPV6 ? '' : ' (skipped: no IPv6 on this host)'}`, async () => {
    expect(ports.echo6).toBeGreaterThan(0);
    const { session } = await spdyConnect(pf('pod-in-netns'), ['portforward.k8s.io']);
    expect((await spdyForward(session, ports.echo6, '0', Buffer.from('six'))).data.toString()).toBe('six');
    session.destroy();
  });

  test('over SPDY for a host-network pod: the host\'s loopback', async () => {
    const { session } = await spdyConnect(pf('pod-on-host'), ['portforward.k8s.io']);
    const port = (hostEcho!.address() as net.AddressInfo).port;
    expect((await spdyForward(session, port, '0', Buffer.from('host'))).data.toString()).toBe('host');
    session.destroy();
  });

  test('over WebSocket: two channels per port, each starting with the port (uint16 LE); bytes both ways', async () => {
    const got = new Map<number, Buffer[]>();
    const ws = await wsConnect(pf('pod-in-netns', [ports.echo, 1]), ['v4.channel.k8s.io'], (raw) => got.set(raw[0], [...(got.get(raw[0]) ?? []), raw.subarray(1)]));
    const payload = randomBytes(200000);
    ws.send(Buffer.concat([Buffer.from([0]), payload]));
    const bytes = (ch: number): Buffer => Buffer.concat(got.get(ch) ?? []);
    for (let i = 0; i < 200 && (bytes(0).length < 2 + payload.length || bytes(3).length < 3); i++) await new Promise((r) => setTimeout(r, 25));
    const port = Buffer.alloc(2);
    port.writeUInt16LE(ports.echo);
    expect(got.get(0)![0]).toEqual(port);
    expect(got.get(1)![0]).toEqual(port);
    expect(sha(bytes(0).subarray(2))).toBe(sha(payload));
    // The second port has no server: its error channel says so.
    expect(bytes(3).subarray(2).toString()).toMatch(/failed to connect to localhost:1 inside namespace/);
    const closed = new Promise((r) => ws.once('close', r));
    ws.close();
    await closed;
  });
});

describe('tokens', () => {
  test('one use only: the second is 404, for an upgrade and a plain request alike', async () => {
    const url = exec(['true']);
    await (await spdyCommand(url, {})).done;
    expect((await answerTo(url, 'spdy')).status).toBe(404);
    expect((await answerTo(url, 'websocket')).status).toBe(404);
    expect(await answerTo(url, 'none')).toMatchObject({ status: 404, body: '404 page not found\n' });
  });

  test('a token of another kind, an unknown one, or a plain request (400, token used) never run anything', async () => {
    const url = exec(['true']);
    expect((await answerTo(url.replace('/exec/', '/attach/'), 'spdy')).status).toBe(404);
    expect((await answerTo(url, 'spdy')).status).toBe(404); // consumed by the attempt above
    expect((await answerTo(`${new URL(url).origin}/exec/nosuchtoken`, 'spdy')).status).toBe(404);
    const plain = exec(['true']);
    expect((await answerTo(plain, 'none')).status).toBe(400);
    expect((await answerTo(plain, 'spdy')).status).toBe(404);
  });

  test('expired tokens are 404; URLs name the bound host and port', async () => {
    const short = new StreamingServer({ address: '127.0.0.1:0', backend, log: silentLogger, tokenTtlMs: 150 });
    await short.start();
    try {
      const url = short.urlFor('exec', { containerId: sleeper, cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: false });
      expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${short.address.port}/exec/[A-Za-z0-9_-]{22}$`));
      await new Promise((r) => setTimeout(r, 400));
      expect((await answerTo(url, 'spdy')).status).toBe(404);
    } finally {
      await short.close();
    }
    expect(() => short.urlFor('exec', { containerId: sleeper, cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: false })).toThrow(/not running/);
  });
});

test('close() ends running sessions: the exec is killed and removed, the client disconnected', async () => {
  const other = new StreamingServer({ address: '127.0.0.1:0', backend, log: silentLogger });
  await other.start();
  const url = other.urlFor('exec', { containerId: sleeper, cmd: ['sleep', '300'], tty: false, stdin: false, stdout: true, stderr: false });
  const ws = await wsCommand(url, 'v5.channel.k8s.io');
  const spdy = await spdyCommand(other.urlFor('exec', { containerId: sleeper, cmd: ['sleep', '300'], tty: false, stdin: false, stdout: true, stderr: false }), {});
  for (let i = 0; i < 100 && (await shim.client.state({ id: sleeper })).execIds.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  expect((await shim.client.state({ id: sleeper })).execIds).toHaveLength(2);
  const t0 = Date.now();
  await other.close();
  expect(Date.now() - t0).toBeLessThan(10000);
  await ws.done;
  await new Promise((r) => (spdy.session.closed ? r(undefined) : spdy.session.once('close', r)));
  expect((await shim.client.state({ id: sleeper })).execIds).toEqual([]);
});
