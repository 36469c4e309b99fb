/**
 * berthctl's RuntimeService commands: the pure parts (config files, ages and times, CRI log lines, tables,
 * status documents) as units, then every verb end to end against a private containerd 2.x with its CRI plugin
 * on (the shared helper's containerd has it off, so this file starts its own), with crictl 1.37 from hack/peers
 * run beside berthctl on the same daemon to compare output shapes. Pods use the host network: no CNI needed.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { criServices } from '../../src/cri/proto/load';
import { expandShortFlags } from '../../src/cri/ctl/command';
import { camelKeys, containerConfigFrom, parseConfigDoc, podConfigFrom } from '../../src/cri/ctl/configs';
import { containersTable } from '../../src/cri/ctl/containers';
import { ago, humanDuration, infoValue, rfc3339Nano, sortedKeys, table, yamlText } from '../../src/cri/ctl/format';
import { goStructJson, runtimeInfoDocument } from '../../src/cri/ctl/info';
import { containerFilter, parseLabels, statusDocument, truncateCount } from '../../src/cri/ctl/listing';
import { LogWriter, parseCriLogLine, parseRfc3339, parseSince, previousLogPath, tailStart } from '../../src/cri/ctl/logs';
import { statsTable } from '../../src/cri/ctl/stats';
import type { Container, ContainerStats, StatusResponse } from '../../src/cri/types';
import { atFileEnd } from '../helpers/cleanup';
import { mountsUnder, peerContainerd, processes } from '../helpers/containerd';
import { cleanupTempDirs, requireTools, startRegistry, stopAll, tempDir, type PushedImage, type RegistryProcess } from '../image/helpers';
import { BERTHCTL, REPO, pushBusybox, type Run } from './helpers';

// The containerd config Berth's test setups share (hack/cluster nodes, the cri benchmark).
const { containerdCriConfig } = require('../../hack/cluster.d/containerd-config') as { containerdCriConfig(version: 2 | 3, o: Record<string, string>): string };

jest.setTimeout(180000);

// ---------------------------------------------------------------------------------------------------------
// Units

describe('config files', () => {
  test('snake_case and camelCase field names become camelCase; map keys stay as written', () => {
    const doc = parseConfigDoc([
      'metadata: {name: p, namespace: n}',
      'log_directory: /var/log/pods/x',
      'labels: {under_score: a, "io.kubernetes.pod.name": p}',
      'linux:',
      '  cgroup_parent: /x',
      '  sysctls: {net.ipv4.ip_unprivileged_port_start: "0"}',
      '  security_context:',
      '    namespace_options: {network: 2, pid: CONTAINER}',
      '  resources: {unified: {memory.high: "1"}, cpuShares: 2}',
      'port_mappings: [{container_port: 80, protocol: 1}]',
    ].join('\n'), 'pod.yaml');
    expect(doc).toEqual({
      metadata: { name: 'p', namespace: 'n' },
      logDirectory: '/var/log/pods/x',
      labels: { under_score: 'a', 'io.kubernetes.pod.name': 'p' },
      linux: {
        cgroupParent: '/x',
        sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' },
        securityContext: { namespaceOptions: { network: 2, pid: 'CONTAINER' } },
        resources: { unified: { 'memory.high': '1' }, cpuShares: 2 },
      },
      portMappings: [{ containerPort: 80, protocol: 1 }],
    });
    expect(camelKeys({ a_b_c: [{ d_e: 1 }], annotations: { x_y: 'z' } })).toEqual({ aBC: [{ dE: 1 }], annotations: { x_y: 'z' } });
  });

  test('JSON is read too; the request encodes as the proto says (enums by number or name)', () => {
    const config = podConfigFrom(parseConfigDoc(JSON.stringify({
      metadata: { name: 'p', namespace: 'n', uid: 'u', attempt: 2 },
      log_directory: '/logs',
      labels: { under_score: 'kept' },
      linux: { security_context: { namespace_options: { network: 2, ipc: 'NODE' } } },
    }), 'pod.json'));
    // The same encoding grpc-js uses for the call, decoded back as berthd would see it.
    const m = criServices().runtime.RunPodSandbox;
    const back = m.requestDeserialize(m.requestSerialize({ config, runtimeHandler: 'runc' })) as { config: Record<string, any>; runtimeHandler: string };
    expect(back.runtimeHandler).toBe('runc');
    expect(back.config.metadata).toEqual({ name: 'p', namespace: 'n', uid: 'u', attempt: 2 });
    expect(back.config.logDirectory).toBe('/logs');
    expect(back.config.labels).toEqual({ under_score: 'kept' });
    expect(back.config.linux.securityContext.namespaceOptions).toMatchObject({ network: 'NODE', ipc: 'NODE', pid: 'POD' });
  });

  test('checked as crictl checks them, in its words', () => {
    const warnings: string[] = [];
    const pod = podConfigFrom({ metadata: { name: 'p', namespace: 'n' }, linux: {} }, (w) => warnings.push(w));
    expect((pod.metadata as { uid: string }).uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(warnings).toEqual(['cgroup_parent is not set. Use `runtime-config` to get the runtime cgroup driver']);
    expect(() => podConfigFrom({})).toThrow('metadata is not set');
    expect(() => podConfigFrom({ metadata: { name: 'p' } })).toThrow(/^name or namespace is not in metadata /);
    expect(() => containerConfigFrom({ metadata: {} })).toThrow(/^name is not in metadata /);
    expect(() => containerConfigFrom({ metadata: { name: 'c' } })).toThrow('image is not set');
    expect(() => containerConfigFrom({ metadata: { name: 'c' }, image: {} })).toThrow(/^image field is not set in image /);
    expect(containerConfigFrom({ metadata: { name: 'c' }, image: { image: 'busybox' } }).image).toEqual({ image: 'busybox', userSpecifiedImage: 'busybox' });
    expect(() => parseConfigDoc('[1, 2]', 'x.yaml')).toThrow(/^x\.yaml: expected a JSON or YAML object/);
    expect(() => parseConfigDoc('a: [', 'x.yaml')).toThrow(/^x\.yaml: /);
  });
});

describe('ages and times', () => {
  test('go-units HumanDuration', () => {
    const s = 1000;
    const m = 60 * s;
    const h = 60 * m;
    const cases: Array<[number, string]> = [
      [0, 'Less than a second'], [999, 'Less than a second'], [s, '1 second'], [59 * s + 999, '59 seconds'], [m, 'About a minute'],
      [2 * m - 1, 'About a minute'], [2 * m, '2 minutes'], [59 * m, '59 minutes'], [60 * m, 'About an hour'], [89 * m, 'About an hour'],
      [90 * m, '2 hours'], [47 * h, '47 hours'], [48 * h, '2 days'], [14 * 24 * h, '2 weeks'], [60 * 24 * h, '2 months'], [2 * 365 * 24 * h, '2 years'],
    ];
    for (const [ms, want] of cases) expect([ms, humanDuration(ms)]).toEqual([ms, want]);
    expect(ago('1700000000000000000', 1700000042500)).toBe('42 seconds ago');
  });

  test('RFC 3339 with nanoseconds, in local time as Go formats it', () => {
    // Whatever the zone here, the text names the same instant, to the nanosecond.
    for (const ns of ['1700000000000000000', '1700000000123450000', '1796303061513425545']) {
      const text = rfc3339Nano(ns);
      expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?(Z|[+-]\d\d:\d\d)$/);
      expect(parseRfc3339(text)!.nanos).toBe(BigInt(ns));
    }
    if (new Date(1700000000000).getTimezoneOffset() === 0) {
      expect(rfc3339Nano('1700000000000000000')).toBe('2023-11-14T22:13:20Z');
      expect(rfc3339Nano('1700000000123450000')).toBe('2023-11-14T22:13:20.12345Z');
    }
    expect(parseRfc3339('2026-12-03T13:04:21.5+02:00')).toEqual({ nanos: 1796303061500000000n - 2n * 3600n * 1_000_000_000n, fixed: '2026-12-03T13:04:21.500000000+02:00' });
    expect(parseRfc3339('yesterday')).toBeUndefined();
  });

  test('--since: a duration back, Unix seconds or a time', () => {
    const now = 1_700_000_000_000;
    expect(parseSince('42m', now)).toBe(BigInt(now - 42 * 60_000) * 1_000_000n);
    expect(parseSince('1h30m', now)).toBe(BigInt(now - 90 * 60_000) * 1_000_000n);
    expect(parseSince('1700000000.25')).toBe(1_700_000_000_250_000_000n);
    expect(parseSince('2023-11-14T22:13:20Z')).toBe(1_700_000_000_000_000_000n);
    expect(parseSince('2023-11-14T22:13:20')).toBe(BigInt(new Date(2023, 10, 14, 22, 13, 20).getTime()) * 1_000_000n);
    expect(() => parseSince('soon')).toThrow(/--since/);
  });
});

describe('CRI log files', () => {
  const line = (t: string, stream: string, tag: string, msg: string) => Buffer.from(`${t} ${stream} ${tag} ${msg}\n`);

  test('lines parse; partial pieces lose the file\'s newline; anything else is not a log line', () => {
    const full = parseCriLogLine(line('2026-12-03T13:04:21.6116Z', 'stdout', 'F', 'hello'))!;
    expect(full).toMatchObject({ stream: 'stdout', partial: false, time: '2026-12-03T13:04:21.611600000Z' });
    expect(full.message.toString()).toBe('hello\n');
    const part = parseCriLogLine(line('2026-12-03T13:04:21Z', 'stderr', 'P', 'hel'))!;
    expect(part).toMatchObject({ stream: 'stderr', partial: true });
    expect(part.message.toString()).toBe('hel');
    expect(parseCriLogLine(line('2026-12-03T13:04:21Z', 'stdout', 'F:x', 'tags'))!.partial).toBe(false);
    expect(parseCriLogLine(Buffer.from('not a log line\n'))).toBeUndefined();
    expect(parseCriLogLine(line('2026-12-03T13:04:21Z', 'stdin', 'F', 'x'))).toBeUndefined();
    expect(parseCriLogLine(Buffer.from('2026-12-03T13:04:21Z stdout'))).toBeUndefined();
  });

  function render(lines: Buffer[], o: { timestamps?: boolean; since?: bigint; limitBytes?: number; only?: 'stdout' | 'stderr' } = {}) {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const w = new LogWriter({
      timestamps: o.timestamps ?? false, since: o.since, limitBytes: o.limitBytes,
      stdout: o.only === 'stderr' ? undefined : (b) => out.push(b), stderr: o.only === 'stdout' ? undefined : (b) => err.push(b),
    });
    for (const l of lines) if (!w.write(parseCriLogLine(l)!)) break;
    return { out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() };
  }

  const T1 = '2026-12-03T13:04:21.000000001Z';
  const T2 = '2026-12-03T13:04:22Z';
  const T3 = '2026-12-03T13:04:23.5Z';
  const sample = [line(T1, 'stdout', 'P', 'a long '), line(T1, 'stderr', 'F', 'oops'), line(T2, 'stdout', 'P', 'line, '), line(T3, 'stdout', 'F', 'joined'), line(T3, 'stdout', 'F', 'next')];

  test('pieces join into one line per stream; stderr lines go to stderr', () => {
    expect(render(sample)).toEqual({ out: 'a long line, joined\nnext\n', err: 'oops\n' });
    expect(render(sample, { only: 'stderr' })).toEqual({ out: '', err: 'oops\n' });
  });

  test('--timestamps marks where a line begins, with nine fraction digits', () => {
    // As the kubelet's reader (and so crictl): "where a line begins" is after any stream's full line, so the
    // stdout piece after the stderr line gets a mark too, and the stderr line, after a piece, none.
    expect(render(sample, { timestamps: true })).toEqual({
      out: `${T1} a long 2026-12-03T13:04:22.000000000Z line, joined\n2026-12-03T13:04:23.500000000Z next\n`,
      err: 'oops\n',
    });
    expect(render([line(T1, 'stdout', 'F', 'a'), line(T2, 'stdout', 'F', 'b')], { timestamps: true }).out).toBe(`${T1} a\n2026-12-03T13:04:22.000000000Z b\n`);
  });

  test('--since skips older lines; --limit-bytes stops', () => {
    expect(render(sample, { since: parseRfc3339(T2)!.nanos }).out).toBe('line, joined\nnext\n');
    expect(render(sample, { limitBytes: 10 })).toEqual({ out: 'a long ', err: 'oop' });
  });

  test('--tail counts lines from the end, a last line without newline included', () => {
    const buf = Buffer.from('a\nb\nc\n');
    expect(buf.subarray(tailStart(buf, 2)).toString()).toBe('b\nc\n');
    expect(tailStart(buf, 3)).toBe(0);
    expect(tailStart(buf, 9)).toBe(0);
    expect(tailStart(buf, 0)).toBe(buf.length);
    expect(tailStart(buf, -1)).toBe(0);
    expect(Buffer.from('a\nb').subarray(tailStart(Buffer.from('a\nb'), 1)).toString()).toBe('b');
    expect(tailStart(Buffer.alloc(0), 1)).toBe(0);
    expect(previousLogPath('/var/log/pods/p/c/1.log', 1)).toBe('/var/log/pods/p/c/0.log');
  });
});

describe('tables and documents', () => {
  const container = (over: Partial<Container>): Container => ({
    id: 'c'.repeat(64), podSandboxId: 'p'.repeat(64), metadata: { name: 'main', attempt: 0 }, image: null, imageRef: '', imageId: '',
    state: 'CONTAINER_RUNNING', createdAt: '1700000000000000000', labels: {}, annotations: {}, ...over,
  } as Container);

  test('ps: crictl\'s columns, ids and image ids shortened, padded as Go\'s tabwriter', () => {
    const now = 1700000090000;
    const imageId = `sha256:${'ab'.repeat(32)}`;
    const out = containersTable([
      container({ image: { image: imageId } as Container['image'] }),
      container({ id: 'd'.repeat(64), state: 'CONTAINER_EXITED', metadata: { name: 'a-rather-long-container-name', attempt: 3 }, image: { image: 'registry.example/busybox:1' } as Container['image'], labels: { 'io.kubernetes.pod.name': 'web', 'io.kubernetes.pod.namespace': 'prod' } }),
    ], false, now);
    const lines = out.split('\n');
    expect(lines[0]).toBe([
      'CONTAINER'.padEnd(20), 'IMAGE'.padEnd(29), 'CREATED'.padEnd(21), 'STATE'.padEnd(20), 'NAME'.padEnd(31), 'ATTEMPT'.padEnd(20), 'POD ID'.padEnd(20), 'POD'.padEnd(20), 'NAMESPACE',
    ].join(''));
    expect(lines[1].split(/ {3,}/)).toEqual(['c'.repeat(13), 'ab'.repeat(6) + 'a', 'About a minute ago', 'Running', 'main', '0', 'p'.repeat(13), 'unknown', 'unknown']);
    expect(lines[2].split(/ {3,}/)).toEqual(['d'.repeat(13), 'registry.example/busybox:1', 'About a minute ago', 'Exited', 'a-rather-long-container-name', '3', 'p'.repeat(13), 'web', 'prod']);
    expect(containersTable([container({ image: { image: imageId } as Container['image'] })], true, now)).toContain(imageId);
    expect(table([['A', 'B'], ['x', 'y']])).toBe(`A${' '.repeat(19)}B\nx${' '.repeat(19)}y\n`);
  });

  test('stats: CPU % from two samples, sizes with four digits, idle containers left out unless --all', () => {
    const s = (id: string, ts: number, cpu: number, mem: number): ContainerStats => ({
      attributes: { id, metadata: { name: id, attempt: 0 }, labels: {}, annotations: {} },
      cpu: { timestamp: String(ts), usageCoreNanoSeconds: { value: String(cpu) }, usageNanoCores: null },
      memory: { timestamp: String(ts), workingSetBytes: { value: String(mem) } },
      writableLayer: { usedBytes: { value: '8192' }, inodesUsed: { value: '4' } },
      swap: null,
    } as unknown as ContainerStats);
    const out = statsTable([s('busy', 1e9, 1e9, 602112), s('idle', 1e9, 0, 0)], [s('busy', 2e9, 1.5e9, 602112), s('idle', 2e9, 0, 0), s('new', 2e9, 5, 5)], false);
    expect(out.split('\n')[0].split(/ {3,}/)).toEqual(['CONTAINER', 'NAME', 'CPU %', 'MEM', 'DISK', 'INODES', 'SWAP']);
    expect(out.split('\n')[1].split(/ {3,}/)).toEqual(['busy', 'busy', '50.00', '602.1kB', '8.192kB', '4', '0B']);
    expect(out.trim().split('\n')).toHaveLength(2);
    expect(statsTable([s('idle', 1e9, 0, 0)], [s('idle', 2e9, 0, 0)], true)).toContain('0.00');
  });

  test('status documents: status beside the info entries, keys sorted, JSON info parsed', () => {
    const doc = statusDocument({ state: 'X', id: 'i', nested: { b: 1, a: 2 } }, { info: '{"pid": 7, "b": {"z": 1, "y": 2}}', plain: '"quoted"', text: 'words' });
    expect(JSON.stringify(doc)).toBe('{"info":{"b":{"y":2,"z":1},"pid":7},"plain":"quoted","status":{"id":"i","nested":{"a":2,"b":1},"state":"X"},"text":"words"}');
    expect(infoValue('{not json')).toBe('{not json');
    expect(sortedKeys([{ b: 1, a: [{ d: 1, c: 2 }] }])).toEqual([{ a: [{ c: 2, d: 1 }], b: 1 }]);
    expect(yamlText({ b: ['x'], a: '2026-12-03T13:04:21Z', c: 'yes', d: '17' })).toBe('a: "2026-12-03T13:04:21Z"\nb:\n- x\nc: "yes"\nd: "17"\n\n');
  });

  test('info: handlers and features as Go marshals the structs (snake_case, zero values left out)', () => {
    expect(goStructJson([{ name: '', features: { recursiveReadOnlyMounts: true, userNamespaces: false } }])).toEqual([{ features: { recursive_read_only_mounts: true } }]);
    const res = {
      status: { conditions: [{ type: 'RuntimeReady', status: true, reason: '', message: '' }] }, info: { config: '{"a":1}', golang: 'go1' },
      runtimeHandlers: [], features: null,
    } as unknown as StatusResponse;
    expect(runtimeInfoDocument(res)).toEqual({ config: { a: 1 }, golang: 'go1', status: { conditions: [{ message: '', reason: '', status: true, type: 'RuntimeReady' }] } });
  });

  test('filters: running containers unless told otherwise; labels as crictl parses them', () => {
    const o = { labels: {}, all: false, latest: false, last: 0 };
    expect(containerFilter(o)).toEqual({ state: { state: 'CONTAINER_RUNNING' } });
    expect(containerFilter({ ...o, all: true })).toEqual({});
    expect(containerFilter({ ...o, state: 'Exited', podId: 'p', labels: { a: 'b' } })).toEqual({ state: { state: 'CONTAINER_EXITED' }, podSandboxId: 'p', labelSelector: { a: 'b' } });
    expect(containerFilter({ ...o, latest: true })).toEqual({});
    expect(() => containerFilter({ ...o, state: 'gone' })).toThrow('should be one of created, running, exited or unknown');
    expect(parseLabels(['a=b', 'c=d'])).toEqual({ a: 'b', c: 'd' });
    expect(() => parseLabels(['a=b=c'])).toThrow('incorrectly specified label: a=b=c');
    expect([truncateCount(5, false, 0), truncateCount(5, true, 0), truncateCount(5, true, 3), truncateCount(2, false, 9)]).toEqual([5, 1, 3, 2]);
  });

  test('combined short flags split as crictl splits them (-aq, -it), nothing else', () => {
    const flags = [
      { name: 'all', short: 'a', kind: 'bool', help: '' }, { name: 'quiet', short: 'q', kind: 'bool', help: '' },
      { name: 'last', short: 'n', kind: 'string', help: '' }, { name: 'tty', short: 't', kind: 'bool', help: '' }, { name: 'interactive', short: 'i', kind: 'bool', help: '' },
    ] as const;
    expect(expandShortFlags(['-aq', '--last', '-x'], flags)).toEqual(['-a', '-q', '--last', '-x']);
    expect(expandShortFlags(['-an', '2', '-qa'], flags)).toEqual(['-a', '-n', '2', '-q', '-a']);
    expect(expandShortFlags(['-na'], flags)).toEqual(['-na']);
    expect(expandShortFlags(['-it', 'id', 'sh', '-it'], flags, true)).toEqual(['-i', '-t', 'id', 'sh', '-it']);
    expect(expandShortFlags(['-ax', '--', '-aq'], flags)).toEqual(['-ax', '--', '-aq']);
  });
});

// ---------------------------------------------------------------------------------------------------------
// End to end: a private containerd 2.x with its CRI plugin

interface Peer { version: string; file: string }

/** hack/peers' binaries of `name` when built (never built here: the comparison is optional, containerd is not). */
function builtPeers(name: string): Map<string, Peer> | undefined {
  const r = spawnSync(path.join(REPO, 'hack', 'peers'), ['--list', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return new Map(r.stdout.trim().split('\n').map((l) => l.split(' ')).map(([n, version, file]) => [n, { version, file }]));
}

const CRICTL = builtPeers('cri-tools')?.get('crictl')?.file;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether `p` settles within `ms` (its timer cleared either way: nothing left pending for jest). */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); });
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * containerd with the CRI plugin, everything under one temp dir: config, root, state, runc's root, the CNI dirs
 * (empty), registry host config. Containers' cgroups live under `cgroupParent` (the pod configs name it).
 * `stop()` removes all of it, whatever state the tests left.
 */
class CriContainerd {
  readonly socket: string;
  readonly endpoint: string;
  private daemon?: ChildProcess;
  private stopped = false;

  private constructor(readonly dir: string, readonly ctrBin: string, readonly runc: string, readonly cgroupParent: string) {
    this.socket = path.join(dir, 'containerd.sock');
    this.endpoint = `unix://${this.socket}`;
  }

  static async start(registryHost: string, cgroupParent: string): Promise<CriContainerd> {
    const bin = peerContainerd() as ReturnType<typeof peerContainerd> & { runcDir: string };
    const dir = tempDir('berth-ctl-ctrd-');
    const self = new CriContainerd(dir, bin.ctr, path.join(bin.runcDir, 'runc'), cgroupParent);
    atFileEnd('private CRI containerd', () => self.stop());
    for (const d of ['tmp', 'cni/bin', 'cni/conf', `certs/${registryHost}`, 'logs']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.writeFileSync(path.join(dir, 'certs', registryHost, 'hosts.toml'),
      `server = "http://${registryHost}"\n\n[host."http://${registryHost}"]\n  capabilities = ["pull", "resolve"]\n`);
    const config = path.join(dir, 'config.toml');
    fs.writeFileSync(config, containerdCriConfig(3, {
      root: `${dir}/root`, state: `${dir}/state`, socket: self.socket, temp: `${dir}/tmp`, runcBin: self.runc, runcRoot: `${dir}/runc`,
      cniBinDir: `${dir}/cni/bin`, cniConfDir: `${dir}/cni/conf`, certsDir: `${dir}/certs`, pauseImage: PAUSE_IMAGE, optDir: `${dir}/opt`,
    }));
    const log = fs.openSync(path.join(dir, 'containerd.log'), 'w');
    try {
      // setpriv --pdeathsig: the daemon dies with the test process even if jest crashes (same pid: setpriv execs).
      self.daemon = spawn('setpriv', ['--pdeathsig', 'SIGKILL', bin.containerd, '--config', config], {
        stdio: ['ignore', log, log],
        env: { ...process.env, PATH: `${bin.shimDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, TMPDIR: path.join(dir, 'tmp') },
      });
    } finally {
      fs.closeSync(log);
    }
    const deadline = Date.now() + 20000;
    while (self.ctr(['version']).status !== 0) {
      if (Date.now() > deadline || self.daemon.exitCode !== null) throw new Error(`containerd did not start: ${self.log().slice(-2000)}`);
      await sleep(50);
    }
    return self;
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'containerd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** ctr in the CRI's namespace. */
  ctr(args: string[]): { status: number; stdout: string; stderr: string } {
    const r = spawnSync(this.ctrBin, ['-a', this.socket, '-n', 'k8s.io', ...args], { encoding: 'utf8', timeout: 60000, env: { ...process.env, TMPDIR: path.join(this.dir, 'tmp') } });
    return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Imports an OCI layout (hack/fixtures) as `<baseName>:latest`. */
  importLayout(layout: string, baseName: string): void {
    const tar = path.join(this.dir, 'tmp', 'image.tar');
    const t = spawnSync('tar', ['-C', layout, '--exclude=./.complete', '-cf', tar, '.'], { encoding: 'utf8' });
    if (t.status !== 0) throw new Error(`tar of ${layout}: ${t.stderr}`);
    const r = this.ctr(['images', 'import', '--base-name', baseName, tar]);
    fs.rmSync(tar, { force: true });
    if (r.status !== 0) throw new Error(`ctr images import: ${r.stderr}`);
  }

  /** Our cgroup subtree in every hierarchy, deepest first. */
  private cgroupDirs(): string[] {
    const top = '/sys/fs/cgroup';
    const out: string[] = [];
    const walk = (d: string) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
      out.push(d);
    };
    for (const t of [top, ...fs.readdirSync(top).map((h) => path.join(top, h))]) {
      const d = path.join(t, this.cgroupParent);
      if (fs.existsSync(d)) walk(d);
    }
    return out;
  }

  /** Every step runs whatever the previous ones did; throws at the end if something could not be removed. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const problems: string[] = [];
    const step = async (what: string, fn: () => void | Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    const d = this.daemon;
    const alive = () => d !== undefined && d.exitCode === null && d.signalCode === null;
    await step('pods', async () => {
      if (!alive()) return;
      // Through the CRI first (it stops and removes the containers with their pods), then whatever is left.
      await berthctl(this.endpoint, 'rmp', '-f', '-a');
      for (const id of this.ctr(['containers', 'ls', '-q']).stdout.split('\n').filter(Boolean)) {
        this.ctr(['tasks', 'delete', '--force', id]);
        this.ctr(['containers', 'rm', id]);
      }
    });
    await step('containerd', async () => {
      if (!d || !alive()) return;
      const exited = new Promise((r) => d.once('exit', r));
      d.kill('SIGTERM');
      if (await within(exited, 10000)) return;
      d.kill('SIGKILL');
      await exited;
    });
    await step('shims', async () => killAndWait(processes((argv) => path.basename(argv[0]).startsWith('containerd-shim') && argv.includes(this.socket))));
    await step('runc state', () => {
      const root = path.join(this.dir, 'runc', 'k8s.io');
      if (!fs.existsSync(root)) return;
      for (const id of fs.readdirSync(root)) spawnSync(this.runc, ['--root', root, 'delete', '--force', id], { stdio: 'ignore', timeout: 15000 });
    });
    await step('container processes', async () => {
      const pids = new Set<number>();
      for (const dir of this.cgroupDirs()) {
        for (const file of ['freezer.state', 'cgroup.freeze']) {
          try {
            fs.writeFileSync(path.join(dir, file), file === 'freezer.state' ? 'THAWED' : '0');
          } catch {
            // not a freezer dir
          }
        }
        try {
          for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
        } catch {
          // gone meanwhile
        }
      }
      await killAndWait([...pids]);
    });
    await step('mounts', () => {
      for (const m of mountsUnder(this.dir)) if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
      const left = mountsUnder(this.dir);
      if (left.length) throw new Error(`still mounted: ${left.join(', ')}`);
    });
    await step('cgroups', async () => {
      for (let attempt = 0; ; attempt++) {
        for (const dir of this.cgroupDirs()) {
          try {
            fs.rmdirSync(dir);
          } catch {
            // busy a moment after its last process: retried
          }
        }
        const left = this.cgroupDirs();
        if (!left.length) return;
        if (attempt >= 50) throw new Error(`cgroups left: ${left.join(', ')}`);
        await sleep(50);
      }
    });
    await step('temp dir', () => fs.rmSync(this.dir, { recursive: true, force: true }));
    if (problems.length) throw new Error(`cleaning up the CRI containerd:\n${problems.join('\n')}`);
  }
}

async function killAndWait(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const running = (pid: number) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 5000;
  while (pids.some(running)) {
    if (Date.now() > deadline) throw new Error(`still running: ${pids.filter(running).join(', ')}`);
    await sleep(20);
  }
}

const PAUSE_IMAGE = 'registry.k8s.io/pause:latest';

function run(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { maxBuffer: 1 << 26, env: env ?? process.env }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

const berthctl = (endpoint: string, ...args: string[]) => run(BERTHCTL, ['--runtime-endpoint', endpoint, ...args]);

/** `file` with `input` on its stdin (then closed); killed after a minute. */
function runWithInput(file: string, args: string[], input: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { maxBuffer: 1 << 26, timeout: 60000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ status, stdout, stderr });
    });
    child.stdin!.end(input);
  });
}

/** An HTTP/1.0 GET to 127.0.0.1:port, read until the server closes (bounded). */
function httpUntilClose(port: number, pathName: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no end of the answer on ${port}: ${got}`));
    }, 20000);
    s.on('connect', () => s.write(`GET ${pathName} HTTP/1.0\r\n\r\n`));
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/** Every key path of a JSON document (array elements merged as `[]`): its shape, values aside. */
function keyPaths(v: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) keyPaths(x, `${prefix}[]`, out);
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.add(`${prefix}.${k}`);
      keyPaths(x, `${prefix}.${k}`, out);
    }
  }
  return out;
}

function shapeDiff(ours: unknown, theirs: unknown): { onlyBerthctl: string[]; onlyCrictl: string[] } {
  const a = keyPaths(ours);
  const b = keyPaths(theirs);
  return { onlyBerthctl: [...a].filter((k) => !b.has(k)).sort(), onlyCrictl: [...b].filter((k) => !a.has(k)).sort() };
}

/** What crictl's error line says (logrus: `level=error msg="…"`), unquoted. */
function crictlError(stderr: string): string {
  const m = /level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
  if (!m) throw new Error(`no error in crictl's output: ${stderr}`);
  return JSON.parse(`"${m[1]}"`) as string;
}

/** crictl's own log lines (logrus, klog) are not the command's output. */
const withoutCrictlLogs = (s: string) => s.split(/(?<=\n)/).filter((l) => !/^time="|^[IWEF]\d{4} /.test(l)).join('');

const cells = (line: string) => line.split(/ {3,}/);

describe('berthctl against containerd 2.x CRI', () => {
  const cgroupParent = `/berth-ctl-${randomBytes(4).toString('hex')}`;
  let registry: RegistryProcess;
  let busybox: PushedImage;
  let ctrd: CriContainerd;
  let work: string;
  let image: string;
  let podFile: string;
  let containerFile: string;
  let podId = '';
  let ctrId = '';
  const k = (...args: string[]) => berthctl(ctrd.endpoint, ...args);
  /** crictl on the same daemon, with a config file of its own (no warnings about a missing /etc/crictl.yaml). */
  const c = (...args: string[]) => run(CRICTL!, ['--config', path.join(work, 'crictl.yaml'), ...args]);
  const compare = CRICTL ? test : (name: string, fn: jest.ProvidesCallback) => test.skip(`${name} [skipped: crictl not built: hack/peers cri-tools]`, fn);

  beforeAll(async () => {
    requireTools('docker-registry', 'tar', 'setpriv', 'umount');
    if (!fs.existsSync(BERTHCTL)) throw new Error(`${BERTHCTL} is missing: run npm run build`);
    const fixtures = spawnSync(path.join(REPO, 'hack', 'fixtures'), [], { encoding: 'utf8' });
    if (fixtures.status !== 0) throw new Error(`hack/fixtures: ${fixtures.stderr}`);
    registry = await startRegistry({ storage: tempDir('berth-ctl-registry-') });
    busybox = await pushBusybox(registry.host);
    image = `${registry.host}/busybox:latest`;
    ctrd = await CriContainerd.start(registry.host, cgroupParent);
    ctrd.importLayout(path.join(fixtures.stdout.trim(), 'pause-layout'), 'registry.k8s.io/pause');
    work = tempDir('berth-ctl-work-');
    fs.writeFileSync(path.join(work, 'crictl.yaml'), `runtime-endpoint: ${ctrd.endpoint}\nimage-endpoint: ${ctrd.endpoint}\ntimeout: 30\n`);
    // crictl's own style: YAML, snake_case, enums as numbers.
    podFile = path.join(work, 'pod.yaml');
    fs.writeFileSync(podFile, stringify({
      metadata: { name: 'ctl-pod', namespace: 'ctl-ns', uid: 'ctl-uid', attempt: 1 },
      log_directory: path.join(ctrd.dir, 'logs'),
      labels: { app: 'berthctl', under_score: 'kept' },
      linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: { network: 2 } } },
    }));
    // camelCase JSON, enums by name.
    containerFile = path.join(work, 'container.json');
    fs.writeFileSync(containerFile, JSON.stringify({
      metadata: { name: 'main' },
      image: { image },
      command: ['/bin/busybox', 'sh', '-c', [
        'echo out-line', 'echo err-line >&2',
        // Longer than containerd's 16 KiB log line: it lands in the file as partial (P) pieces.
        "/bin/busybox head -c 40000 /dev/zero | /bin/busybox tr '\\0' x", 'echo',
        "trap 'exit 0' TERM", 'while true; do /bin/busybox sleep 0.2; done',
      ].join('; ')],
      logPath: 'main.log',
      labels: { tier: 'test', 'io.kubernetes.pod.name': 'ctl-pod', 'io.kubernetes.pod.namespace': 'ctl-ns' },
      linux: { securityContext: { namespaceOptions: { network: 'NODE' } } },
    }));
  });

  afterAll(async () => {
    try {
      await ctrd?.stop();
    } finally {
      await stopAll();
      cleanupTempDirs();
    }
  });

  test('info: the runtime status and containerd\'s verbose info, as crictl shows them', async () => {
    const r = await k('info');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, any>;
    expect(doc.status.conditions).toContainEqual({ type: 'RuntimeReady', status: true, reason: '', message: '' });
    expect(doc.config.containerd.defaultRuntimeName).toBe('runc');
    expect(doc.runtimeHandlers).toContainEqual({ name: 'runc', features: expect.objectContaining({ recursive_read_only_mounts: expect.any(Boolean) }) });
    expect(Object.keys(doc)).toEqual([...Object.keys(doc)].sort());
    const yaml = await k('info', '-o', 'yaml');
    expect(yaml.stdout).toMatch(/^cniconfig:\n/);
    const quiet = JSON.parse((await k('info', '-q')).stdout) as Record<string, unknown>;
    expect(quiet.status).toEqual(doc.status);
    expect(quiet.config).toBeUndefined();
  });

  compare('info: same document shape as crictl info', async () => {
    const ours = JSON.parse((await k('info')).stdout);
    const theirs = JSON.parse((await c('info')).stdout);
    expect(shapeDiff(ours, theirs)).toEqual({ onlyBerthctl: [], onlyCrictl: [] });
  });

  test('pull, runp: the pod id; pods lists it', async () => {
    const pull = await k('pull', image);
    expect(pull.status).toBe(0);
    expect(pull.stdout).toBe(`Image is up to date for ${busybox.config.digest}\n`);
    const r = await k('runp', podFile);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    podId = r.stdout.trim();
    const pods = await k('pods');
    const lines = pods.stdout.trimEnd().split('\n');
    expect(cells(lines[0])).toEqual(['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT', 'RUNTIME']);
    expect(cells(lines[1])).toEqual([podId.slice(0, 13), expect.stringMatching(/^(Less than a second|\d+ seconds?) ago$/), 'Ready', 'ctl-pod', 'ctl-ns', '1', '(default)']);
    expect((await k('pods', '-q')).stdout).toBe(`${podId}\n`);
    expect((await k('pods', '--no-trunc')).stdout).toContain(podId);
    expect((await k('pods', '-q', '--name', '^ctl-p', '--namespace', 'ns$', '--label', 'app=berthctl', '--state', 'ready')).stdout).toBe(`${podId}\n`);
    expect((await k('pods', '-q', '--state', 'NotReady')).stdout).toBe('');
    expect((await k('pods', '-q', '--id', podId.slice(0, 6))).stdout).toBe(`${podId}\n`);
    const doc = JSON.parse((await k('pods', '-o', 'json')).stdout) as { items: Array<Record<string, any>> };
    expect(doc.items).toHaveLength(1);
    // The snake_case file reached the runtime: metadata, map keys as written, the host network.
    expect(doc.items[0]).toMatchObject({ id: podId, state: 'SANDBOX_READY', metadata: { name: 'ctl-pod', uid: 'ctl-uid', namespace: 'ctl-ns', attempt: 1 }, labels: { app: 'berthctl', under_score: 'kept' } });
  });

  compare('pods: crictl prints the same table and JSON shape', async () => {
    const [ours, theirs] = [await k('pods'), await c('pods')];
    expect(ours.stdout.split('\n').map(cells).map((r) => r.filter((_, i) => i !== 1))).toEqual(theirs.stdout.split('\n').map(cells).map((r) => r.filter((_, i) => i !== 1)));
    expect((await k('pods', '-q')).stdout).toBe((await c('pods', '-q')).stdout);
    expect(shapeDiff(JSON.parse((await k('pods', '-o', 'json')).stdout), JSON.parse((await c('pods', '-o', 'json')).stdout))).toEqual({ onlyBerthctl: [], onlyCrictl: [] });
  });

  test('inspectp: status and containerd\'s info; by id prefix; a missing pod in crictl\'s words', async () => {
    const r = await k('inspectp', podId.slice(0, 8));
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as { status: Record<string, any>; info: Record<string, any> };
    expect(Object.keys(doc)).toEqual(['info', 'status']);
    expect(doc.status).toMatchObject({ id: podId, state: 'SANDBOX_READY', linux: { namespaces: { options: { network: 'NODE' } } } });
    expect(doc.status.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    expect(doc.info.pid).toEqual(expect.any(Number));
    const two = JSON.parse((await k('inspectp', podId, podId)).stdout) as unknown[];
    expect(two).toHaveLength(2);
    const table = await k('inspectp', '-o', 'table', podId);
    expect(table.stdout).toMatch(new RegExp(`^ID: ${podId}\nName: ctl-pod\nUID: ctl-uid\nNamespace: ctl-ns\nAttempt: 1\nStatus: SANDBOX_READY\nCreated: .* ago\n`));
    const missing = await k('inspectp', 'no-such-pod');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^berthctl: get the status of pod sandboxes: get pod sandbox status: rpc error: code = NotFound desc = /);
  });

  compare('inspectp: the same document shape and error as crictl', async () => {
    expect(shapeDiff(JSON.parse((await k('inspectp', podId)).stdout), JSON.parse((await c('inspectp', podId)).stdout))).toEqual({ onlyBerthctl: [], onlyCrictl: [] });
    expect((await k('inspectp', '-o', 'yaml', podId)).stdout.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T')).toBe((await c('inspectp', '-o', 'yaml', podId)).stdout.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T'));
    expect((await k('inspectp', 'no-such-pod')).stderr).toBe(`berthctl: ${crictlError((await c('inspectp', 'no-such-pod')).stderr)}\n`);
  });

  test('create, start; ps lists the container by state', async () => {
    const r = await k('create', podId, containerFile, podFile);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    ctrId = r.stdout.trim();
    expect((await k('ps', '-q')).stdout).toBe('');
    const created = await k('ps', '-a');
    expect(cells(created.stdout.split('\n')[1])[3]).toBe('Created');
    const start = await k('start', ctrId.slice(0, 10));
    expect(start.status).toBe(0);
    expect(start.stdout).toBe(`${ctrId.slice(0, 10)}\n`);
    const ps = await k('ps');
    const lines = ps.stdout.trimEnd().split('\n');
    expect(cells(lines[0])).toEqual(['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD', 'NAMESPACE']);
    expect(cells(lines[1])).toEqual([ctrId.slice(0, 13), image, expect.stringMatching(/ ago$/), 'Running', 'main', '0', podId.slice(0, 13), 'ctl-pod', 'ctl-ns']);
    expect((await k('ps', '-q', '--pod', podId.slice(0, 5), '--name', 'ma', '--namespace', 'ctl', '--label', 'tier=test', '--state', 'running')).stdout).toBe(`${ctrId}\n`);
    expect((await k('ps', '-q', '--state', 'exited')).stdout).toBe('');
    expect((await k('ps', '-q', '--latest')).stdout).toBe(`${ctrId}\n`);
    expect((await k('ps', '--no-trunc')).stdout).toContain(ctrId);
    const doc = JSON.parse((await k('ps', '-o', 'json')).stdout) as { containers: Array<Record<string, any>> };
    expect(doc.containers[0]).toMatchObject({ id: ctrId, podSandboxId: podId, state: 'CONTAINER_RUNNING', image: { image, userSpecifiedImage: image } });
    expect((await k('ps', '-o', 'yaml')).stdout).toMatch(/^containers:\n- annotations: \{\}\n/);
  });

  compare('ps: crictl prints the same table and JSON shape', async () => {
    const drop = (s: string) => s.split('\n').map(cells).map((r) => r.filter((_, i) => i !== 2));
    expect(drop((await k('ps', '-a')).stdout)).toEqual(drop((await c('ps', '-a')).stdout));
    expect((await k('ps', '-q')).stdout).toBe((await c('ps', '-q')).stdout);
    expect(shapeDiff(JSON.parse((await k('ps', '-o', 'json')).stdout), JSON.parse((await c('ps', '-o', 'json')).stdout))).toEqual({ onlyBerthctl: [], onlyCrictl: [] });
  });

  test('inspect: status with times, containerd\'s info parsed; tables; errors', async () => {
    const doc = JSON.parse((await k('inspect', ctrId.slice(0, 7))).stdout) as { status: Record<string, any>; info: Record<string, any> };
    expect(doc.status).toMatchObject({ id: ctrId, state: 'CONTAINER_RUNNING', finishedAt: '0001-01-01T00:00:00Z', logPath: path.join(ctrd.dir, 'logs', 'main.log') });
    expect(doc.status.startedAt).toMatch(/^\d{4}-/);
    expect(doc.info.pid).toEqual(expect.any(Number));
    expect(doc.info.config.metadata).toEqual({ name: 'main' });
    const quiet = JSON.parse((await k('inspect', '-q', ctrId)).stdout) as Record<string, unknown>;
    expect(Object.keys(quiet)).toEqual(['status']);
    expect((await k('inspect', '-o', 'table', ctrId)).stdout).toMatch(new RegExp(`^ID: ${ctrId}\nName: main\nState: CONTAINER_RUNNING\nCreated: .* ago\nStarted: .* ago\nLabels:\n\tio.kubernetes.pod.name -> ctl-pod\n`));
    expect(JSON.parse((await k('inspect', '--name', 'main')).stdout).status.id).toBe(ctrId);
    const missing = await k('inspect', 'no-such-container');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^berthctl: get the status of containers: get container status: rpc error: code = NotFound desc = /);
  });

  compare('inspect: the same document shape and errors as crictl', async () => {
    const ours = JSON.parse((await k('inspect', ctrId)).stdout);
    const theirs = JSON.parse((await c('inspect', ctrId)).stdout);
    expect(shapeDiff(ours, theirs)).toEqual({ onlyBerthctl: [], onlyCrictl: [] });
    const emptyFile = path.join(work, 'empty.json');
    fs.writeFileSync(emptyFile, '{}');
    for (const args of [['inspect', 'no-such-container'], ['start', 'no-such-container'], ['rm', ctrId], ['rmp', podId], ['runp', emptyFile], ['create', podId, 'missing.json', podFile]]) {
      const [ours1, theirs1] = [await k(...args), await c(...args)];
      expect([args, ours1.status]).toEqual([args, 1]);
      expect([args, ours1.stderr]).toEqual([args, `berthctl: ${crictlError(theirs1.stderr)}\n`]);
    }
  });

  test('logs: stdout and stderr apart, the long line joined from its pieces; --tail, --timestamps, --stream', async () => {
    const logFile = path.join(ctrd.dir, 'logs', 'main.log');
    const longLine = `${'x'.repeat(40000)}\n`;
    // Generous: on a loaded 2-core machine the container may take a while to get there.
    const deadline = Date.now() + 30000;
    while (!(await k('logs', ctrId)).stdout.endsWith(longLine)) {
      if (Date.now() > deadline) throw new Error(`the container's log is incomplete: ${fs.readFileSync(logFile, 'utf8').slice(0, 500)}`);
      await sleep(100);
    }
    expect(fs.readFileSync(logFile, 'utf8')).toMatch(/ stdout P x{100}/);
    const r = await k('logs', ctrId);
    expect(r.stdout).toBe(`out-line\n${longLine}`);
    expect(r.stderr).toBe('err-line\n');
    // --tail 1 is the file's last line: the long line's last piece, or err-line when stderr was written last.
    const lastLine = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').pop()!;
    const tail = await k('logs', '--tail', '1', ctrId);
    if (/ stderr F err-line$/.test(lastLine)) expect(tail).toMatchObject({ stdout: '', stderr: 'err-line\n' });
    else expect(tail.stdout).toMatch(/^x{1,39999}\n$/);
    const t = await k('logs', '-t', ctrId);
    // A mark where each line begins. As in the kubelet's reader, "begins" is after any stream's full line: when
    // containerd's concurrent copies put err-line between the long line's pieces, the next piece is marked too.
    const stamp = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z /g;
    const fileLines = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n');
    const errAt = fileLines.findIndex((l) => / stderr F err-line$/.test(l));
    const pieces = fileLines.map((l, i) => (/ stdout [PF] x/.test(l) ? i : -1)).filter((i) => i >= 0);
    const errInside = errAt > pieces[0] && errAt < pieces[pieces.length - 1];
    expect(t.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out-line\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z x/);
    expect(t.stdout.replace(stamp, '')).toBe(`out-line\n${longLine}`);
    expect(t.stdout.match(stamp)).toHaveLength(errInside ? 3 : 2);
    expect(await k('logs', '--stream', 'stderr', ctrId)).toEqual({ status: 0, stdout: '', stderr: 'err-line\n' });
    // (Which stream's first line comes first in the file is the container's race: stdout only here.)
    expect((await k('logs', '--stream', 'stdout', '--limit-bytes', '4', ctrId)).stdout).toBe('out-');
    expect((await k('logs', '--since', '1h', ctrId)).stdout).toBe(r.stdout);
    expect((await k('logs', '--since', '2100-01-01T00:00:00Z', ctrId)).stdout).toBe('');
  });

  compare('logs: byte for byte what crictl prints', async () => {
    for (const args of [[], ['-t'], ['--tail', '2'], ['--stream', 'stdout'], ['--limit-bytes', '100']]) {
      const [ours, theirs] = [await k('logs', ...args, ctrId), await c('logs', ...args, ctrId)];
      expect([args, ours.stdout, ours.stderr]).toEqual([args, theirs.stdout, withoutCrictlLogs(theirs.stderr)]);
    }
  });

  test('exec: the command\'s output on the matching streams and its exit status; --timeout', async () => {
    const r = await k('exec', '-s', ctrId, '/bin/busybox', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 3');
    expect(r).toEqual({ status: 3, stdout: 'to-out\n', stderr: 'to-err\n' });
    // Without --sync: the Exec RPC and containerd's streaming server, as crictl does.
    expect(await k('exec', ctrId.slice(0, 9), '/bin/busybox', 'echo', '-n', 'hi')).toEqual({ status: 0, stdout: 'hi', stderr: '' });
    const slow = await k('exec', '-s', '--timeout', '1', ctrId, '/bin/busybox', 'sleep', '5');
    expect(slow.status).toBe(1);
    expect(slow.stderr).toBe(`berthctl: execing command in container ${ctrId} synchronously: command timed out: "/bin/busybox sleep 5" timed out after 1s\n`);
    const tty = await k('exec', '-it', ctrId, 'sh');
    expect(tty).toEqual({ status: 1, stdout: '', stderr: `berthctl: execing command in container ${ctrId}: input is not a terminal\n` });
  });

  test('exec over containerd\'s streaming server: stdin, stderr apart and the exit code, SPDY and WebSocket', async () => {
    // containerd's WebSocket remote command stops at v4, which cannot close the command's input: one line is read.
    for (const transport of ['spdy', 'websocket']) {
      const args = ['--runtime-endpoint', ctrd.endpoint, 'exec', '-i', '--transport', transport, ctrId, '/bin/busybox', 'sh', '-c', 'read line; echo "$line"; echo to-err >&2; exit 7'];
      expect([transport, await runWithInput(BERTHCTL, args, 'piped\n')]).toEqual([transport, { status: 7, stdout: 'piped\n', stderr: 'to-err\n' }]);
    }
  });

  compare('exec: failures worded as crictl words them', async () => {
    const args = ['exec', '-s', 'no-such-container', 'true'];
    expect((await k(...args)).stderr).toBe(`berthctl: ${crictlError((await c(...args)).stderr)}\n`);
  });

  test('stats: CRI stats and a CPU % over one second', async () => {
    const t0 = Date.now();
    const r = await k('stats');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    const lines = r.stdout.trimEnd().split('\n');
    expect(cells(lines[0])).toEqual(['CONTAINER', 'NAME', 'CPU %', 'MEM', 'DISK', 'INODES', 'SWAP']);
    expect(cells(lines[1])).toEqual([ctrId.slice(0, 13), 'main', expect.stringMatching(/^\d+\.\d\d$/), expect.stringMatching(/^[\d.]+[kMG]?B$/), expect.stringMatching(/B$/), expect.stringMatching(/^\d+$/), expect.stringMatching(/B$/)]);
    const doc = JSON.parse((await k('stats', '-o', 'json', '--id', ctrId)).stdout) as { stats: Array<Record<string, any>> };
    expect(doc.stats[0].attributes.id).toBe(ctrId);
    expect(Number(doc.stats[0].memory.workingSetBytes.value)).toBeGreaterThan(0);
  });

  compare('stats: the same columns and JSON shape as crictl', async () => {
    const [ours, theirs] = [await k('stats'), await c('stats')];
    expect(cells(ours.stdout.split('\n')[0])).toEqual(cells(theirs.stdout.replace(/^\x1b\[2J\x1b\[H/, '').split('\n')[0]));
    expect(shapeDiff(JSON.parse((await k('stats', '-o', 'json')).stdout), JSON.parse((await c('stats', '-o', 'json')).stdout))).toEqual({ onlyBerthctl: [], onlyCrictl: [] });
  });

  test('logs -f follows until the container exits; stop by prefix; ps -a shows it exited', async () => {
    const tickerFile = path.join(work, 'ticker.yaml');
    fs.writeFileSync(tickerFile, stringify({
      metadata: { name: 'ticker' }, image: { image },
      command: ['/bin/busybox', 'sh', '-c', "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); /bin/busybox sleep 0.2; done"],
      log_path: 'ticker.log',
    }));
    const ticker = (await k('create', podId, tickerFile, podFile)).stdout.trim();
    expect((await k('start', ticker)).status).toBe(0);
    let out = '';
    const follower = spawn(BERTHCTL, ['--runtime-endpoint', ctrd.endpoint, 'logs', '-f', ticker], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      follower.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => follower.once('exit', (code) => resolve(code)));
      const deadline = Date.now() + 10000;
      while (!out.includes('tick 3\n')) {
        if (Date.now() > deadline) throw new Error(`logs -f printed: ${out}`);
        await sleep(50);
      }
      const stop = await k('stop', '-t', '5', ticker.slice(0, 12));
      expect(stop).toEqual({ status: 0, stdout: `${ticker.slice(0, 12)}\n`, stderr: '' });
      expect(await within(exited, 5000)).toBe(true);
      expect(follower.exitCode).toBe(0);
      const ticks = out.trimEnd().split('\n');
      expect(ticks.length).toBeGreaterThanOrEqual(4);
      ticks.forEach((l, i) => expect(l).toBe(`tick ${i}`));
    } finally {
      follower.kill('SIGKILL');
    }
    const exited = await k('ps', '-a', '--state', 'exited');
    expect(cells(exited.stdout.split('\n')[1]).slice(3, 5)).toEqual(['Exited', 'ticker']);
    expect((await k('inspect', ticker)).stdout).toMatch(/"exitCode": 0/);
    // An exited container's log is printed and done.
    expect((await k('logs', '-f', ticker)).stdout).toBe(out);
    const rm = await k('rm', ticker);
    expect(rm).toEqual({ status: 0, stdout: `${ticker}\n`, stderr: '' });
    expect(fs.existsSync(path.join(ctrd.dir, 'logs', 'ticker.log'))).toBe(false);
  });

  test('attach and port-forward over containerd\'s streaming server (a host-network pod: the node\'s ports)', async () => {
    const missing = await k('attach', 'no-such-container');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^berthctl: attaching running container failed: rpc error: code = NotFound desc = /);
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const n = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(n));
      });
    });
    // httpd without -f goes to the background and stays in the container.
    expect((await k('exec', '-s', ctrId, '/bin/busybox', 'httpd', '-p', `127.0.0.1:${port}`, '-h', '/etc')).status).toBe(0);
    for (const transport of ['spdy', 'websocket']) {
      const fwd = spawn(BERTHCTL, ['--runtime-endpoint', ctrd.endpoint, 'port-forward', '--transport', transport, podId, `:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        let out = '';
        let err = '';
        fwd.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        fwd.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        const deadline = Date.now() + 20000;
        while (!/Forwarding from 127\.0\.0\.1:\d+ -> \d+\n/.test(out)) {
          if (Date.now() > deadline || fwd.exitCode !== null) throw new Error(`port-forward printed ${out} ${err}`);
          await sleep(20);
        }
        const local = Number(/127\.0\.0\.1:(\d+) -> /.exec(out)![1]);
        expect(out).toBe(`Forwarding from 127.0.0.1:${local} -> ${port}\n`);
        // Read until the server closes: containerd ends a forward once the pod's side has (WebSocket too).
        for (let i = 0; i < 2; i++) expect([transport, await httpUntilClose(local, '/berth-fixture')]).toEqual([transport, expect.stringMatching(/^HTTP\/1\.[01] 200 OK\r\n[\s\S]*\r\n\r\nbusybox:latest\n$/)]);
        const exited = new Promise<number | null>((resolve) => fwd.once('exit', (code) => resolve(code)));
        fwd.kill('SIGTERM');
        expect(await within(exited, 10000)).toBe(true);
        expect([transport, fwd.exitCode, err]).toEqual([transport, 0, '']);
      } finally {
        fwd.kill('SIGKILL');
      }
    }
  });

  compare('attach and port-forward: failures worded as crictl words them', async () => {
    expect((await k('attach', 'no-such-container')).stderr).toBe(`berthctl: ${crictlError((await c('attach', 'no-such-container')).stderr)}\n`);
    expect((await k('port-forward', 'no-such-pod', '80')).stderr).toBe(`berthctl: ${crictlError((await c('port-forward', 'no-such-pod', '80')).stderr)}\n`);
  });

  test('rm and rmp refuse running ones without -f; stopp, rmp', async () => {
    const rm = await k('rm', ctrId);
    expect(rm.status).toBe(1);
    expect(rm.stderr).toBe(`berthctl: container "${ctrId}" is running, please stop it first\n`);
    const forced = await k('rm', '-f', '--keep-logs', ctrId);
    expect(forced).toEqual({ status: 0, stdout: `${ctrId}\n${ctrId}\n`, stderr: '' });
    expect(fs.existsSync(path.join(ctrd.dir, 'logs', 'main.log'))).toBe(true);
    expect((await k('ps', '-a', '-q')).stdout).toBe('');
    // A pod of its own name: the runtime reserves the first one's.
    const otherFile = path.join(work, 'pod2.json');
    fs.writeFileSync(otherFile, JSON.stringify({ ...parseConfigDoc(fs.readFileSync(podFile, 'utf8'), podFile), metadata: { name: 'ctl-pod-2', namespace: 'ctl-ns' } }));
    const second = await k('runp', '--runtime', 'runc', otherFile);
    expect(second.stderr).toBe('');
    expect(second.status).toBe(0);
    const other = second.stdout.trim();
    expect(cells((await k('pods', '--id', other)).stdout.split('\n')[1])[6]).toBe('runc');
    expect((await k('rmp', other)).stderr).toBe(`berthctl: pod sandbox "${other}" is running, please stop it first\n`);
    expect(await k('stopp', podId.slice(0, 7))).toEqual({ status: 0, stdout: `Stopped sandbox ${podId.slice(0, 7)}\n`, stderr: '' });
    expect(cells((await k('pods', '--id', podId)).stdout.split('\n')[1])[2]).toBe('NotReady');
    expect(await k('rmp', podId)).toEqual({ status: 0, stdout: `Removed sandbox ${podId}\n`, stderr: '' });
    expect(await k('rmp', '-f', '-a')).toEqual({ status: 0, stdout: `Stopped sandbox ${other}\nRemoved sandbox ${other}\n`, stderr: '' });
    expect((await k('pods', '-q')).stdout).toBe('');
    expect(await k('rmp', '-a')).toEqual({ status: 0, stdout: '', stderr: 'berthctl: No pods to remove\n' });
  });
});
