/**
 * berthctl's streaming commands end to end against a real berthd (build/bin/berthd, its berth-shim, a pod
 * network of loopback only): exec with stdin piped and under a real pty (util-linux `script`), exit codes and
 * stderr, attach, port-forward, over SPDY and WebSocket; bad input; and, when hack/peers built crictl 1.37,
 * crictl against the same berthd for the same output. Every process started here is killed by pid afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cleanupTempDirs, pushImage, requireTools, startRegistry, stopAll, tempDir, type RegistryProcess } from '../image/helpers';
import { exitCodeFromStatus } from '../../src/cri/ctl/stream-status';
import { parsePortSpecs } from '../../src/cri/ctl/stream-portforward';
import { DetachKeys } from '../../src/cri/ctl/terminal';
import { removeCgroupDirs } from '../helpers/oci';
import { BERTHCTL, criClient, REPO, requireBuilt, shutDownBerthd, startBerthd, type Berthd, type CriClient } from './helpers';

jest.setTimeout(180000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- CRI replies as decoded JSON

const PID = process.pid;
const CGROUP_ROOT = `berth-ctls-${PID}`;
const TRANSPORTS = ['spdy', 'websocket'] as const;

let registry: RegistryProcess;
let berthd: Berthd;
let cri: CriClient;
let image: string;
let dir: string;
let pod: { id: string; config: Obj };
/** Running containers: a sleeper to exec in, cat with stdin to attach to, a shell with a tty, an HTTP server. */
const ctr = { main: '', cat: '', tty: '', web: '' };

/** crictl 1.37 from hack/peers, when built (the comparisons are optional; berthd is not). */
const CRICTL = (() => {
  const r = spawnSync(path.join(REPO, 'hack', 'peers'), ['--list', 'cri-tools'], { encoding: 'utf8' });
  const line = r.status === 0 ? r.stdout.split('\n').find((l) => l.startsWith('crictl ')) : undefined;
  return line?.split(' ')[2];
})();
const compare = CRICTL ? test : (name: string, fn: jest.ProvidesCallback) => test.skip(`${name} [skipped: crictl not built: hack/peers cri-tools]`, fn);

/** Children of this file: killed by pid after each test, whatever it did. */
const children = new Set<ChildProcess>();

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Spawned {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves at exit; kills the process (by pid) if it runs longer than `ms`. */
  done(ms?: number): Promise<Run>;
  /** Waits until stdout matches (bounded). */
  waitOut(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
}

function start(file: string, args: string[], env: Record<string, string> = {}): Spawned {
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<Run>((resolve) => child.once('close', (status, signal) => {
    children.delete(child);
    resolve({ status, signal, stdout: out, stderr: err });
  }));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async done(ms = 30000) {
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async waitOut(re, ms = 30000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
          throw new Error(`no ${re} in the output (exit ${child.exitCode}): ${JSON.stringify(out)} stderr ${JSON.stringify(err)}`);
        }
        await sleep(20);
      }
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** berthctl against berthd, `input` on its stdin (then closed). */
async function ctl(args: string[], input?: string | Buffer): Promise<Run> {
  const p = start(BERTHCTL, ['--runtime-endpoint', berthd.endpoint, ...args]);
  if (input !== undefined) p.child.stdin!.end(input);
  else p.child.stdin!.end();
  return p.done();
}

/** A shell command line under a real pty (util-linux script), its exit status passed through (-e). */
function underPty(command: string): Spawned {
  return start('script', ['-qfec', command, '/dev/null'], { SHELL: '/bin/sh' });
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const ctlLine = (...args: string[]) => [BERTHCTL, '--runtime-endpoint', berthd.endpoint, ...args].map(q).join(' ');

beforeAll(async () => {
  requireTools('docker-registry', 'tar', 'setpriv', 'script', 'stty');
  requireBuilt();
  registry = await startRegistry({ storage: tempDir('berth-ctls-registry-') });
  await pushImage(registry.host, 'pod', 'v1', [{ 'bin/busybox': { copyFrom: '/bin/busybox' } }, { 'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n' }]);
  image = `${registry.host}/pod:v1`;
  dir = tempDir('berth-ctls-');
  // A pod network of loopback only: port-forward reaches the pod's own 127.0.0.1, nothing on the host changes.
  const netDir = path.join(dir, 'net.d');
  fs.mkdirSync(netDir);
  fs.writeFileSync(path.join(netDir, '10-lo.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: `ctls${PID}`, plugins: [{ type: 'berth-loopback' }] }));
  berthd = await startBerthd({ config: { cni: { confDir: netDir, binDirs: [path.join(dir, 'no-bin')] } } });
  cri = criClient(berthd.endpoint);
  await cri.image('PullImage', { image: { image } });
  const config = {
    metadata: { name: 'ctls', namespace: 'default', uid: `uid-ctls-${PID}`, attempt: 0 },
    hostname: 'ctls-host',
    logDirectory: path.join(dir, 'logs'),
    linux: { cgroupParent: `/${CGROUP_ROOT}/pod`, securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
  pod = { id: (await cri.runtime<Obj>('RunPodSandbox', { config })).podSandboxId, config };
  const run = async (name: string, args: string[], over: Obj = {}): Promise<string> => {
    const c = await cri.runtime<Obj>('CreateContainer', {
      podSandboxId: pod.id, sandboxConfig: config,
      config: { metadata: { name, attempt: 0 }, image: { image }, command: ['/bin/busybox'], args, logPath: `${name}.log`, ...over },
    });
    await cri.runtime('StartContainer', { containerId: c.containerId });
    return c.containerId;
  };
  ctr.main = await run('main', ['sleep', '3600']);
  ctr.cat = await run('cat', ['cat'], { stdin: true });
  ctr.tty = await run('tty', ['sh'], { stdin: true, tty: true });
  ctr.web = await run('web', ['httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/etc']);
});

afterEach(async () => {
  for (const c of [...children]) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((r) => c.once('close', r));
    c.kill('SIGKILL');
    await Promise.race([gone, sleep(5000)]);
  }
});

afterAll(async () => {
  try {
    await shutDownBerthd(cri, berthd);
    await stopAll();
    removeCgroupDirs(CGROUP_ROOT);
  } finally {
    cleanupTempDirs();
  }
});


describe('units', () => {
  test('detach keys: ctrl-p,ctrl-q ends the input; a lone ctrl-p is passed on', async () => {
    const keys = new DetachKeys();
    let detached = false;
    keys.once('detach', () => (detached = true));
    const parts: Buffer[] = [];
    keys.on('data', (d: Buffer) => parts.push(d));
    const ended = new Promise((r) => keys.once('end', r));
    keys.write(Buffer.from('ab\x10c\x10'));
    keys.write(Buffer.from('\x11de'));
    await ended;
    expect(detached).toBe(true);
    expect(Buffer.concat(parts).toString()).toBe('ab\x10c');
  });

  test('statuses: success, an exit code, a failure; text before v4', () => {
    const status = (o: object) => Buffer.from(JSON.stringify({ metadata: {}, ...o }));
    expect(exitCodeFromStatus(Buffer.alloc(0), true)).toBe(0);
    expect(exitCodeFromStatus(status({ status: 'Success' }), true)).toBe(0);
    expect(exitCodeFromStatus(status({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } }), true)).toBe(7);
    expect(() => exitCodeFromStatus(status({ status: 'Failure', reason: 'InternalError', message: 'Internal error occurred: boom' }), true)).toThrow(/^Internal error occurred: boom$/);
    expect(() => exitCodeFromStatus(Buffer.from('it failed'), false)).toThrow(/^it failed$/);
    expect(() => exitCodeFromStatus(Buffer.from('{'), true)).toThrow(/^error stream protocol error: /);
  });

  test('port specs as client-go parses them', () => {
    expect(parsePortSpecs(['8080', ':80', '0:81', '9000:90'])).toEqual([{ local: 8080, remote: 8080 }, { local: 0, remote: 80 }, { local: 0, remote: 81 }, { local: 9000, remote: 90 }]);
    expect(() => parsePortSpecs(['1:2:3'])).toThrow(/^1:2:3: invalid port format/);
    expect(() => parsePortSpecs(['80:'])).toThrow(/^80:: error parsing remote port ''/);
  });
});

describe.each(TRANSPORTS)('exec over %s', (transport) => {
  test('stdin piped through cat; without -i no input; exit codes; stderr apart', async () => {
    expect(await ctl(['exec', '-i', '--transport', transport, ctr.main, '/bin/busybox', 'cat'], 'data\nmore data\n')).toEqual({ status: 0, signal: null, stdout: 'data\nmore data\n', stderr: '' });
    expect(await ctl(['exec', '--transport', transport, ctr.main, '/bin/busybox', 'echo', '-n', 'hi'])).toMatchObject({ status: 0, stdout: 'hi', stderr: '' });
    expect(await ctl(['exec', '--transport', transport, ctr.main, '/bin/busybox', 'sh', '-c', 'exit 7'])).toEqual({ status: 7, signal: null, stdout: '', stderr: '' });
    expect(await ctl(['exec', '-r', transport, ctr.main, '/bin/busybox', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 3'])).toEqual({ status: 3, signal: null, stdout: 'to-out\n', stderr: 'to-err\n' });
  });

  test('a MiB of input arrives whole, and the end of it ends the command', async () => {
    const big = Buffer.alloc(1 << 20, 'x');
    const r = await ctl(['exec', '-i', '-r', transport, ctr.main, '/bin/busybox', 'wc', '-c'], big);
    expect(r).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout.trim()).toBe(String(1 << 20));
  });

  test('-it under a pty: the container gets a pts of its own at the local size, and follows a resize', async () => {
    // The first line is the local pty's name: the test resizes it once the remote shell has shown its size.
    // The process starts at the client's size: asked at once, it is already there.
    const remote = [
      'tty', 'stty size',
      "i=0; while [ \"$(stty size)\" = '33 111' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done", 'stty size',
    ].join('; ');
    const p = underPty(`tty; stty rows 33 cols 111; exec ${ctlLine('exec', '-it', '--transport', transport, ctr.main, '/bin/busybox', 'sh', '-c', remote)}`);
    const local = (await p.waitOut(/^(\/dev\/pts\/\d+)\r?\n/))[1];
    await p.waitOut(/33 111\r?\n/);
    expect(spawnSync('stty', ['-F', local, 'rows', '20', 'cols', '60']).status).toBe(0);
    const r = await p.done();
    expect(r.status).toBe(0);
    const lines = r.stdout.split(/\r?\n/);
    expect(lines[1]).toMatch(/^\/dev\/pts\/\d+$/);
    expect(lines.slice(2, 4)).toEqual(['33 111', '20 60']);
    // Raw mode as Go's: no output processing, the remote terminal's CR LF reaches the screen as it is.
    expect(r.stdout).not.toContain('\r\r\n');
  });
});

describe.each(TRANSPORTS)('attach over %s', (transport) => {
  test('-i to a container reading its stdin: what goes in comes out', async () => {
    const p = start(BERTHCTL, ['--runtime-endpoint', berthd.endpoint, 'attach', '-i', '--transport', transport, ctr.cat]);
    p.child.stdin!.write(`hello ${transport}\n`);
    await p.waitOut(new RegExp(`hello ${transport}\n`));
    p.child.stdin!.write('second line\n');
    await p.waitOut(/second line\n/);
    expect(p.stderr()).toBe('');
  });

  test('-it to a container with a tty, under a pty: a shell answers; ctrl-p,ctrl-q detaches', async () => {
    const p = underPty(ctlLine('attach', '-it', '--transport', transport, ctr.tty));
    // Keys as typed: the shell in the container echoes them and answers.
    await sleep(500);
    for (let i = 0; i < 50 && !/tty-42/.test(p.stdout()); i++) {
      p.child.stdin!.write('echo tty-$((6*7))\r');
      await sleep(200);
    }
    await p.waitOut(/tty-42/);
    p.child.stdin!.write(Buffer.from([0x10, 0x11]));
    const r = await p.done(20000);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
  });
});

/**
 * One HTTP/1.0 request to 127.0.0.1:port; the answer, once all of it (by Content-Length) or the end came.
 * Closing as soon as the body is complete, as HTTP clients do, matters over WebSocket: the protocol has no
 * half-close, and berthd (unlike containerd, which stops a second after either direction ends) keeps such a
 * forward until the client goes.
 */
function httpGet(port: number, pathName: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer on ${port}: ${got}`));
    }, 20000);
    s.on('connect', () => s.write(`GET ${pathName} HTTP/1.0\r\n\r\n`));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      const head = got.indexOf('\r\n\r\n');
      const len = /\r\nContent-Length: (\d+)\r\n/i.exec(got.slice(0, head + 2));
      if (head >= 0 && len && Buffer.byteLength(got.slice(head + 4)) >= Number(len[1])) s.destroy();
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.on('error', reject);
  });
}

describe.each(TRANSPORTS)('port-forward over %s', (transport) => {
  test('a free local port to the pod\'s 8080; connections one after another and at once; SIGTERM ends it', async () => {
    const p = start(BERTHCTL, ['--runtime-endpoint', berthd.endpoint, 'port-forward', '--transport', transport, pod.id, ':8080']);
    const port = Number((await p.waitOut(/^Forwarding from 127\.0\.0\.1:(\d+) -> 8080\n/))[1]);
    expect(await httpGet(port, '/hostname')).toMatch(/^HTTP\/1\.[01] 200 OK\r\n[\s\S]*\r\n\r\nctls-host\n$/);
    expect(await httpGet(port, '/hostname')).toMatch(/\r\n\r\nctls-host\n$/);
    const both = await Promise.all([httpGet(port, '/hostname'), httpGet(port, '/passwd')]);
    expect(both[0]).toMatch(/ctls-host\n$/);
    expect(both[1]).toMatch(/root:x:0:0:/);
    expect(p.stdout()).toBe(`Forwarding from 127.0.0.1:${port} -> 8080\n${`Handling connection for ${port}\n`.repeat(4)}`);
    p.child.kill('SIGTERM');
    expect(await p.done(10000)).toMatchObject({ status: 0, signal: null, stderr: '' });
  });

  test('LOCAL:REMOTE, two forwards at once; a port nobody listens on is reported and ends it', async () => {
    const free = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const n = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(n));
      });
    });
    const p = start(BERTHCTL, ['--runtime-endpoint', berthd.endpoint, 'port-forward', '-r', transport, pod.id, `${free}:8080`, '0:9']);
    await p.waitOut(new RegExp(`^Forwarding from 127\\.0\\.0\\.1:${free} -> 8080\nForwarding from 127\\.0\\.0\\.1:(\\d+) -> 9\n`));
    expect(await httpGet(free, '/hostname')).toMatch(/ctls-host\n$/);
    const other = Number(p.stdout().match(/127\.0\.0\.1:(\d+) -> 9\n/)![1]);
    expect(await httpGet(other, '/')).toBe('');
    const r = await p.done(20000);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/an error occurred forwarding \d+ -> 9: .*localhost:9/);
    expect(r.stderr).toMatch(/berthctl: port forward: lost connection to pod\n$/);
  });
});

describe('bad input', () => {
  test('port specs are checked before anything, naming the argument', async () => {
    for (const [spec, want] of [['1:2:3', "1:2:3: invalid port format"], ['x:80', "x:80: error parsing local port 'x'"], ['80:70000', "80:70000: error parsing remote port '70000'"], ['80:0', '80:0: remote port must be > 0']]) {
      const r = await ctl(['port-forward', pod.id, spec]);
      expect([spec, r.status, r.stdout]).toEqual([spec, 1, '']);
      expect(r.stderr).toMatch(new RegExp(`^berthctl: port forward: ${want.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
    expect((await ctl(['port-forward', pod.id])).stderr).toMatch(/^berthctl: REMOTE_PORT: /);
  });

  test('unknown ids, a bogus transport, -t without -i or a terminal', async () => {
    const noCtr = await ctl(['exec', 'no-such-container', 'true']);
    expect(noCtr.status).toBe(1);
    expect(noCtr.stderr).toMatch(/^berthctl: execing command in container no-such-container: rpc error: code = NotFound desc = .*no-such-container/);
    const noAttach = await ctl(['attach', 'no-such-container']);
    expect(noAttach.stderr).toMatch(/^berthctl: attaching running container failed: rpc error: code = NotFound desc = /);
    const noPod = await ctl(['port-forward', 'no-such-pod', '80']);
    expect(noPod.stderr).toMatch(/^berthctl: port forward: rpc error: code = NotFound desc = /);
    for (const verb of [['exec', ctr.main, 'true'], ['attach', ctr.cat], ['port-forward', pod.id, '80']]) {
      const r = await ctl([verb[0], '--transport', 'bogus', ...verb.slice(1)]);
      expect([verb[0], r.status]).toEqual([verb[0], 1]);
      expect(r.stderr).toMatch(/: --transport: unknown transport "bogus" \(one of: spdy, websocket\)\n$/);
    }
    expect((await ctl(['exec', '-t', ctr.main, 'true'])).stderr).toBe(`berthctl: execing command in container ${ctr.main}: tty=true must be specified with interactive=true\n`);
    expect((await ctl(['exec', '-it', ctr.main, 'true'])).stderr).toBe(`berthctl: execing command in container ${ctr.main}: input is not a terminal\n`);
    expect((await ctl(['attach', '-it', ctr.tty])).stderr).toBe('berthctl: attaching running container failed: input is not a terminal\n');
  });

  test('--help tells the transports and what the TLS flags are', async () => {
    const r = await ctl(['port-forward', '--help']);
    expect(r.stdout).toMatch(/--transport PROTOCOL +Transport protocol to use, one of: spdy\|websocket \(default spdy\)/);
    expect(r.stdout).toMatch(/--tls-ca FILE +accepted for crictl compatibility, unused/);
  });
});

describe('crictl 1.37 against the same berthd', () => {
  const c = (args: string[], input?: string): Promise<Run> => {
    const p = start(CRICTL!, ['--runtime-endpoint', berthd.endpoint, '--timeout', '30s', ...args]);
    p.child.stdin!.end(input ?? '');
    return p.done();
  };

  compare('exec -i: the same output on the same streams', async () => {
    for (const transport of TRANSPORTS) {
      const args = ['exec', '-i', '--transport', transport, ctr.main, '/bin/busybox', 'sh', '-c', 'cat; echo to-err >&2'];
      const [ours, theirs] = [await ctl(args, 'piped\n'), await c(args, 'piped\n')];
      expect([transport, ours.stdout, ours.status]).toEqual([transport, theirs.stdout, theirs.status]);
      expect(ours.stderr).toBe('to-err\n');
      expect(theirs.stderr).toContain('to-err\n');
    }
  });

  compare('port-forward over SPDY: the same Forwarding line for 127.0.0.1, the same answer', async () => {
    const p = start(CRICTL!, ['--runtime-endpoint', berthd.endpoint, 'port-forward', pod.id, ':8080']);
    const port = Number((await p.waitOut(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080\n/))[1]);
    const theirs = await httpGet(port, '/hostname');
    p.child.kill('SIGTERM');
    await p.done(10000);
    const q2 = start(BERTHCTL, ['--runtime-endpoint', berthd.endpoint, 'port-forward', pod.id, ':8080']);
    const ours = await httpGet(Number((await q2.waitOut(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080\n/))[1]), '/hostname');
    q2.child.kill('SIGTERM');
    await q2.done(10000);
    expect(ours.replace(/Date: .*\r\n/, '')).toBe(theirs.replace(/Date: .*\r\n/, ''));
  });
});
