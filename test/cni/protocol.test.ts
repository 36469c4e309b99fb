/**
 * The CNI protocol layer (src/cni/pkg): VERSION, the error object and its codes, environment and config
 * validation naming the field, result conversion between 0.4.0 / 1.0.0 / 1.1.0, addresses. Errors are checked
 * both through the executable (exit code, stdout) and in-process, which must agree byte for byte.
 */
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { hostLocal } from '../../src/cni/host-local/plugin';
import { parseConfList, parseNetConf, pluginConfigFromList } from '../../src/cni/pkg/config';
import { BerthError, type ErrorKind } from '../../src/common/errors';
import { CniCode, cniCodeOf, toCniErrorJson } from '../../src/cni/pkg/errors';
import { parseCniArgs, knownArgs } from '../../src/cni/pkg/env';
import { loadHostLocalConfig, rangeToString } from '../../src/cni/host-local/config';
import { formatCIDR, formatIP, parseCIDR, parseIP } from '../../src/cni/pkg/ip';
import { loadPortmapConfig } from '../../src/cni/portmap/config';
import { convertResult, parseResult } from '../../src/cni/pkg/result';
import { SUPPORTED_VERSIONS } from '../../src/cni/pkg/version';
import { bundledHostLocal, cleanupTempDirs, hostLocalConf, inprocRunner, invoke, json, requireCni, tempDir, type Invocation, type Runner } from './helpers';

let exec: Runner;
const inproc = inprocRunner(hostLocal);

beforeAll(async () => {
  requireCni();
  ({ exec } = await bundledHostLocal());
});
afterAll(cleanupTempDirs);

/** Runs through both paths, asserts they agree exactly, returns the outcome. */
async function both(inv: Invocation, stdin: unknown) {
  const [a, b] = await Promise.all([invoke(exec, inv, stdin), invoke(inproc, inv, stdin)]);
  expect(b).toEqual({ ...a, stderr: b.stderr });
  return { exitCode: a.exitCode, body: json(a) };
}

describe('VERSION', () => {
  test('reports the current version and every supported one', async () => {
    const { exitCode, body } = await both({ command: 'VERSION' }, '{"cniVersion":"1.1.0"}');
    expect(exitCode).toBe(0);
    expect(body).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
    expect(body.supportedVersions).toEqual(expect.arrayContaining(['0.4.0', '1.0.0', '1.1.0']));
  });

  test('needs no stdin and no other variable', async () => {
    const out = await invoke(exec, { command: 'VERSION', path: '' }, '');
    expect(out.exitCode).toBe(0);
    expect(json(out).cniVersion).toBe('1.1.0');
  });
});

describe('errors: the spec JSON on stdout and a non-zero exit', () => {
  const dataDir = () => tempDir();
  const good = () => hostLocalConf(dataDir(), { ranges: [[{ subnet: '10.77.0.0/24' }]] });
  const add = { command: 'ADD', containerId: 'c1' };

  test('malformed JSON → code 6', async () => {
    const { exitCode, body } = await both(add, '{"cniVersion": "1.0.0",');
    expect(exitCode).not.toBe(0);
    expect(body.code).toBe(CniCode.DecodingFailure);
    expect(body.msg).toMatch(/decoding network config/);
  });

  test('JSON that is not an object → code 6', async () => {
    expect((await both(add, '[1,2]')).body.code).toBe(6);
  });

  test.each([
    ['cniVersion', (c: any) => delete c.cniVersion],
    ['name', (c: any) => delete c.name],
    ['type', (c: any) => delete c.type],
    ['ipam', (c: any) => delete c.ipam],
    ['ipam.ranges', (c: any) => delete c.ipam.ranges],
    ['ipam.ranges[0][0].subnet', (c: any) => delete c.ipam.ranges[0][0].subnet],
  ])('missing %s → code 7 naming it', async (field, mutate) => {
    const conf = good();
    mutate(conf);
    const { exitCode, body } = await both(add, conf);
    expect(exitCode).toBe(1);
    expect(body.code).toBe(CniCode.InvalidNetworkConfig);
    expect(body.msg.startsWith(`${field}: `)).toBe(true);
  });

  test.each([
    ['ipam.ranges[0][0].subnet', { ranges: [[{ subnet: '10.0.0.0/33' }]] }, /invalid CIDR/],
    ['ipam.ranges[0][0].subnet', { ranges: [[{ subnet: '10.0.0.300/24' }]] }, /invalid CIDR/],
    ['ipam.ranges[0][0].subnet', { ranges: [[{ subnet: '10.0.0.0' }]] }, /invalid CIDR/],
    ['ipam.ranges[0][0].subnet', { ranges: [[{ subnet: '10.9.0.5/29' }]] }, /host bits set.*10\.9\.0\.0/],
    ['ipam.ranges[0][0].subnet', { ranges: [[{ subnet: '10.9.1.0/31' }]] }, /too small/],
    ['ipam.ranges[0][0].gateway', { ranges: [[{ subnet: '10.9.1.0/24', gateway: '10.9.2.1' }]] }, /not in network/],
    ['ipam.ranges[0][0].rangeStart', { ranges: [[{ subnet: '10.9.1.0/24', rangeStart: 'fd00::1' }]] }, /same protocol/],
    ['ipam.ranges[0][0].rangeEnd', { ranges: [[{ subnet: '10.9.1.0/24', rangeStart: '10.9.1.50', rangeEnd: '10.9.1.10' }]] }, /before start/],
    ['ipam.ranges[0][1]', { ranges: [[{ subnet: '10.9.1.0/24' }, { subnet: 'fd00::/64' }]] }, /mixed address families/],
    ['ipam.ranges[1]', { ranges: [[{ subnet: '10.9.1.0/24' }], [{ subnet: '10.9.1.0/25' }]] }, /overlaps/],
    ['ipam.routes[0].dst', { ranges: [[{ subnet: '10.9.1.0/24' }]], routes: [{ dst: 'default' }] }, /invalid CIDR/],
    ['ipam.routes[0].gw', { ranges: [[{ subnet: '10.9.1.0/24' }]], routes: [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] }, /address family/],
    ['ipam.ranges', { ranges: { subnet: '10.9.1.0/24' } }, /must be an array/],
  ])('bad %s → code 7 naming it', async (field, ipam, message) => {
    const { exitCode, body } = await both(add, hostLocalConf(dataDir(), ipam));
    expect(exitCode).toBe(1);
    expect(body.code).toBe(CniCode.InvalidNetworkConfig);
    expect(body.msg.startsWith(`${field}: `)).toBe(true);
    expect(body.msg).toMatch(message);
    expect(body.cniVersion).toBe('1.0.0');
  });

  test.each(['0.1.0', '0.2.0', '2.0.0', '1.2.0'])('unsupported cniVersion %s → code 1', async (v) => {
    const conf = good();
    conf.cniVersion = v;
    const { exitCode, body } = await both(add, conf);
    expect(exitCode).toBe(1);
    expect(body.code).toBe(CniCode.IncompatibleVersion);
    expect(body.msg).toBe('incompatible CNI versions');
    expect(body.details).toContain(v);
  });

  test('malformed cniVersion → code 7', async () => {
    const conf = good();
    conf.cniVersion = 'one';
    expect((await both(add, conf)).body).toMatchObject({ code: 7, msg: expect.stringMatching(/^cniVersion: malformed/) });
  });

  test('bad network name → code 7 (it is a directory name: no path traversal)', async () => {
    const conf = good();
    conf.name = '../../etc';
    expect((await both(add, conf)).body).toMatchObject({ code: 7, msg: expect.stringMatching(/^name: invalid network name/) });
  });

  test.each([
    [{ command: '' }, 'CNI_COMMAND'],
    [{ command: 'FROB' }, 'unknown CNI_COMMAND'],
    [{ command: 'ADD', containerId: 'c1', env: { CNI_NETNS: undefined, CNI_PATH: undefined } }, '[CNI_NETNS,CNI_PATH] missing'],
    [{ command: 'DEL', env: { CNI_IFNAME: 'eth0' } }, '[CNI_CONTAINERID] missing'],
    [{ command: 'ADD', containerId: '-bad' }, 'invalid characters in containerID'],
    [{ command: 'ADD', containerId: 'c1', ifname: 'a/b' }, 'CNI_IFNAME'],
    [{ command: 'ADD', containerId: 'c1', ifname: 'averyveryverylongname' }, 'longer than 15'],
    [{ command: 'ADD', containerId: 'c1', args: 'novalue' }, 'CNI_ARGS'],
    [{ command: 'ADD', containerId: 'c1', args: 'FOO=1' }, 'unknown args'],
  ] as Array<[Invocation, string]>)('environment %j → code 4', async (inv, message) => {
    const { exitCode, body } = await both(inv, good());
    expect(exitCode).toBe(1);
    expect(body.code).toBe(CniCode.InvalidEnvironment);
    expect(body.msg).toContain(message);
  });

  test('CNI_ARGS: IgnoreUnknown lets unknown keys through', async () => {
    // ADD has state: each path gets its own data directory.
    const inv = { command: 'ADD', containerId: 'c1', args: 'IgnoreUnknown=1;K8S_POD_NAME=x' };
    const [a, b] = [await invoke(exec, inv, good()), await invoke(inproc, inv, good())];
    expect([a.exitCode, b.exitCode]).toEqual([0, 0]);
    expect(a.stdout).toBe(b.stdout);
  });

  test('STATUS and GC need a 1.1.0 config → code 1 otherwise', async () => {
    for (const command of ['STATUS', 'GC']) {
      const { exitCode, body } = await both({ command }, good());
      expect(exitCode).toBe(1);
      expect(body).toMatchObject({ code: 1, msg: `config version 1.0.0 does not allow ${command}` });
    }
  });

  test('STATUS of an unusable data directory → code 50', async () => {
    const file = `${tempDir()}/not-a-dir`;
    fs.writeFileSync(file, '');
    const conf = hostLocalConf(file, { ranges: [[{ subnet: '10.77.0.0/24' }]] }, { cniVersion: '1.1.0' });
    const { exitCode, body } = await both({ command: 'STATUS' }, conf);
    expect(exitCode).toBe(1);
    expect(body.code).toBe(CniCode.NotAvailable);
  });

  test('STATUS of a usable one succeeds with no output', async () => {
    const conf = hostLocalConf(tempDir(), { ranges: [[{ subnet: '10.77.0.0/24' }]] }, { cniVersion: '1.1.0' });
    expect(await both({ command: 'STATUS' }, conf)).toEqual({ exitCode: 0, body: undefined });
  });
});

describe('error codes from kinds (mapped once, in src/cni/pkg/errors.ts)', () => {
  test.each([
    ['InvalidArgument', 7],
    ['ResourceExhausted', 11],
    ['Unavailable', 11],
    ['Internal', 999],
    ['NotFound', 999],
  ] as Array<[ErrorKind, number]>)('%s → %d', (kind, code) => {
    expect(cniCodeOf(new BerthError(kind, 'x'))).toBe(code);
  });

  test('plain errors are internal (999), with the message', () => {
    expect(toCniErrorJson(new Error('boom'), '1.0.0')).toEqual({ cniVersion: '1.0.0', code: 999, msg: 'boom' });
  });
});

describe('configs', () => {
  test('prevResult is read in the config version and validated', () => {
    const conf = parseNetConf(JSON.stringify({
      cniVersion: '0.4.0', name: 'n', type: 't',
      prevResult: { interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ version: '4', interface: 0, address: '10.1.0.2/24', gateway: '10.1.0.1' }] },
    }));
    expect(conf.prevResult).toEqual({ cniVersion: '0.4.0', interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ interface: 0, address: '10.1.0.2/24', gateway: '10.1.0.1' }] });
    expect(() => parseNetConf(JSON.stringify({ cniVersion: '0.4.0', name: 'n', type: 't', prevResult: { ips: [{ address: '10.1.0.2/24' }] } }))).toThrow(/prevResult\.ips\[0\]\.version/);
    expect(() => parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 't', prevResult: { ips: [{ address: '10.1.0.2/24', interface: 3 }] } }))).toThrow(/prevResult\.ips\[0\]\.interface/);
  });

  test('GC attachments are validated', () => {
    const base = { cniVersion: '1.1.0', name: 'n', type: 't' };
    expect(parseNetConf(JSON.stringify({ ...base, 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] })).validAttachments).toEqual([{ containerID: 'a', ifname: 'eth0' }]);
    expect(() => parseNetConf(JSON.stringify({ ...base, 'cni.dev/valid-attachments': [{ containerID: 'a' }] }))).toThrow(/cni\.dev\/valid-attachments\[0\]\.ifname/);
  });

  test('conflist: cniVersions picks the highest supported; plugins validated; per-plugin stdin', () => {
    const list = parseConfList(JSON.stringify({
      cniVersion: '1.0.0', cniVersions: ['1.0.0', '1.1.0', '9.0.0'], name: 'berth', disableCheck: true,
      plugins: [{ type: 'bridge', ipam: { type: 'host-local' } }, { type: 'portmap', capabilities: { portMappings: true } }],
    }));
    expect(list.cniVersion).toBe('1.1.0');
    expect(list.disableCheck).toBe(true);
    expect(pluginConfigFromList(list, 1, { runtimeConfig: { portMappings: [] } })).toEqual({ type: 'portmap', capabilities: { portMappings: true }, cniVersion: '1.1.0', name: 'berth', runtimeConfig: { portMappings: [] } });
    expect(() => parseConfList('{"cniVersion":"1.0.0","name":"x","plugins":[{}]}')).toThrow(/^plugins\[0\]\.type: missing/);
    expect(() => parseConfList('{"cniVersion":"1.0.0","name":"x"}')).toThrow(/^plugins: missing/);
  });

  test("capability args with Go's field names, as containerd's go-cni sends them, are read as the reference plugins read them", () => {
    // go-cni's PortMapping and IPRanges structs have no json tags: {"HostPort": …}, {"Subnet": …}.
    const portmap = parseNetConf(JSON.stringify({
      cniVersion: '1.0.0', name: 'n', type: 'portmap',
      runtimeConfig: { portMappings: [{ HostPort: 12000, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }, { hostPort: 53, containerPort: 5353, protocol: 'UDP', HOSTIP: '127.0.0.1' }] },
    }));
    expect(loadPortmapConfig(portmap).mappings).toEqual([
      { hostPort: 12000, containerPort: 80, protocol: 'tcp' },
      { hostPort: 53, containerPort: 5353, protocol: 'udp', hostIP: '127.0.0.1' },
    ]);
    expect(() => loadPortmapConfig(parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'portmap', runtimeConfig: { portMappings: [{ ContainerPort: 80 }] } }))))
      .toThrow(/^runtimeConfig\.portMappings\[0\]\.hostPort: must be a port number/);
    const ipam = parseNetConf(JSON.stringify({
      cniVersion: '1.0.0', name: 'n', type: 'bridge', ipam: { type: 'host-local' },
      runtimeConfig: { IPRanges: [[{ Subnet: '10.9.8.0/24', RangeStart: '', RangeEnd: '', Gateway: '10.9.8.254' }]] },
    }));
    const [range] = loadHostLocalConfig(ipam, []).ranges[0];
    expect([formatCIDR(range.subnet), formatIP(range.gateway!), rangeToString(range)]).toEqual(['10.9.8.0/24', '10.9.8.254', '10.9.8.1-10.9.8.254']);
  });

  test('CNI_ARGS', () => {
    expect(parseCniArgs('A=1;B=x=y')).toEqual([['A', '1'], ['B', 'x=y']]);
    expect(parseCniArgs('')).toEqual([]);
    expect(knownArgs([['IP', '10.0.0.1'], ['IgnoreUnknown', 'true'], ['X', '1']], ['IP'])).toEqual({ IP: '10.0.0.1' });
  });
});

describe('results in 0.4.0 / 1.0.0 / 1.1.0', () => {
  const full = {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'eth0', mac: '0a:58:0a:01:00:02', mtu: 1400, sandbox: '/var/run/netns/x', socketPath: '/s', pciID: '0000:00:01.0' }],
    ips: [{ interface: 0, address: '10.1.0.2/24', gateway: '10.1.0.1' }, { interface: 0, address: 'fd00::2/64', gateway: 'fd00::1' }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 }],
    dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
  };

  test('1.1.0 keeps everything', () => {
    expect(convertResult(parseResult(full, 'r'), '1.1.0')).toEqual(full);
  });

  test('1.0.0 drops the 1.1 attributes', () => {
    expect(convertResult(parseResult(full, 'r'), '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '0a:58:0a:01:00:02', sandbox: '/var/run/netns/x' }],
      ips: full.ips,
      routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
      dns: full.dns,
    });
  });

  test('0.4.0 adds ips[].version; and reads back to the same 1.0.0', () => {
    const old = convertResult(parseResult(full, 'r'), '0.4.0');
    expect((old.ips as any[]).map((i) => i.version)).toEqual(['4', '6']);
    expect(old.cniVersion).toBe('0.4.0');
    const up = convertResult(parseResult(old, 'r'), '1.0.0');
    expect(up).toEqual(convertResult(parseResult(full, 'r'), '1.0.0'));
  });
});

describe('addresses (the canonical text names host-local files)', () => {
  test.each([
    ['10.0.0.1', '10.0.0.1'],
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
    ['FD00::A', 'fd00::a'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['64:ff9b::10.1.2.3', '64:ff9b::a01:203'],
  ])('%s → %s', (input, canonical) => {
    expect(formatIP(parseIP(input)!)).toBe(canonical);
  });

  test.each(['010.0.0.1', '1.2.3', '1.2.3.256', 'fd00::1::2', 'g::1', '1:2:3:4:5:6:7:8:9', ''])('%s is rejected', (s) => {
    expect(parseIP(s)).toBeUndefined();
  });

  test('CIDR keeps host bits; prefix bounds', () => {
    expect(parseCIDR('10.1.2.3/8')).toEqual({ ip: { family: 4, value: 0x0a010203n }, prefix: 8 });
    expect(parseCIDR('fd00::/129')).toBeUndefined();
    expect(parseCIDR('10.0.0.0/-1')).toBeUndefined();
  });
});
