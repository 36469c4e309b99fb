/**
 * Bad input to the plugin executables (the CNI protocol as any runtime uses it): the spec's error code, a
 * message naming what is wrong, exit status 1, and nothing left behind (veth, IP file, firewall chain).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ownedChains } from '../../src/cni/pkg/firewall';
import { cleanupTempDirs, execRunner, invoke, json, tempDir, type Runner } from './helpers';
import { OCT, PID, berthBinDir, bridgePorts, cleanupNet, netns, requireNet, trackLink, trackOwner } from './net-helpers';

let binDir: string;
let bridge: Runner;
let ns: string;
const br = `bb${PID}`;

beforeAll(async () => {
  requireNet();
  binDir = await berthBinDir();
  bridge = execRunner(path.join(binDir, 'berth-bridge'));
  ns = netns('bad');
  trackLink(br);
});
afterAll(async () => {
  await cleanupNet();
  cleanupTempDirs();
});

function conf(dataDir: string, over: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}) {
  return { cniVersion: '1.1.0', name: `bbad${PID}`, type: 'berth-bridge', bridge: br, isGateway: true, ipMasq: true, ipam: { type: 'berth-host-local', dataDir, ranges: [[{ subnet: `10.${OCT}.30.0/30` }]], ...ipam }, ...over };
}

async function expectNothingLeft(dataDir: string): Promise<void> {
  expect(bridgePorts(br)).toEqual([]);
  const d = path.join(dataDir, `bbad${PID}`);
  expect(fs.existsSync(d) ? fs.readdirSync(d).filter((f) => !f.startsWith('last_reserved')) : []).toEqual([]);
  expect((await ownedChains('nftables')).filter((c) => c.startsWith('masq-'))).toEqual([]);
}

const add = (id: string, stdin: unknown, netnsPath = ns) => invoke(bridge, { command: 'ADD', containerId: id, netns: netnsPath, path: binDir }, stdin);

describe('berth-bridge executable', () => {
  test.each<[string, (d: string) => unknown, number, RegExp]>([
    ['malformed JSON', () => '{"cniVersion": "1.1.0", "name": ', 6, /error decoding network config/],
    ['missing name', (d) => ({ ...conf(d), name: undefined }), 7, /^name: missing network name/],
    ['missing type', (d) => ({ ...conf(d), type: undefined }), 7, /^type: missing/],
    ['unsupported cniVersion', (d) => conf(d, { cniVersion: '9.9.9' }), 1, /incompatible CNI versions/],
    ['bad CIDR', (d) => conf(d, {}, { ranges: [[{ subnet: '10.1.2.300/24' }]] }), 7, /ipam\.ranges\[0\]\[0\]\.subnet: invalid CIDR address/],
    ['IPAM plugin missing from CNI_PATH', (d) => conf(d, {}, { type: 'berth-nonexistent-ipam' }), 7, /failed to find plugin "berth-nonexistent-ipam"/],
    ['unsupported field', (d) => conf(d, { vlan: 100 }), 2, /^vlan: vlan is not supported/],
    ['bad mtu', (d) => conf(d, { mtu: 20 }), 7, /^mtu: must be at least 68/],
  ])('%s', async (_name, make, code, msg) => {
    const dataDir = tempDir();
    const out = await add(`x${PID}`, make(dataDir));
    expect(out.exitCode).toBe(1);
    expect(json(out)).toMatchObject({ code, msg: expect.stringMatching(msg) });
    await expectNothingLeft(dataDir);
  });

  test('unknown netns path: code 4 naming CNI_NETNS, no address allocated', async () => {
    const dataDir = tempDir();
    const out = await add(`x${PID}`, conf(dataDir), `/var/run/netns/berth-missing-${PID}`);
    expect(json(out)).toMatchObject({ code: 4, msg: expect.stringMatching(/^CNI_NETNS: failed to open netns/) });
    await expectNothingLeft(dataDir);
  });

  test('exhausted range: code 11, the failed container leaves nothing', async () => {
    const dataDir = tempDir();
    trackOwner(`bbad${PID}`, `f${PID}`, 'nftables');
    const first = await add(`f${PID}`, conf(dataDir));
    expect(first.exitCode).toBe(0);
    const ns2 = netns('bad2');
    const second = await add(`s${PID}`, conf(dataDir), ns2);
    expect(json(second)).toMatchObject({ code: 11, msg: expect.stringMatching(/no IP addresses available/) });
    expect(bridgePorts(br)).toHaveLength(1);
    const del = await invoke(bridge, { command: 'DEL', containerId: `f${PID}`, netns: ns, path: binDir }, conf(dataDir));
    expect(del.exitCode).toBe(0);
    await expectNothingLeft(dataDir);
  });

  test('DEL is idempotent: missing netns, second DEL', async () => {
    const dataDir = tempDir();
    for (const netnsPath of [`/var/run/netns/berth-missing-${PID}`, ns, ns]) {
      const out = await invoke(bridge, { command: 'DEL', containerId: `d${PID}`, netns: netnsPath, path: binDir }, conf(dataDir));
      expect(out).toMatchObject({ exitCode: 0, stdout: '' });
    }
  });

  test('--help and VERSION', async () => {
    const { execFileSync } = await import('node:child_process');
    expect(execFileSync(path.join(binDir, 'berth-bridge'), ['--help'], { encoding: 'utf8' })).toMatch(/CNI plugin/);
    const v = await invoke(bridge, { command: 'VERSION' }, '{"cniVersion":"1.1.0"}');
    expect(json(v)).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });
});
