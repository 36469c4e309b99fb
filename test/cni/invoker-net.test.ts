/**
 * The invoker over real namespaces: our plugins in-process and the same plugins exec'd from CNI_PATH give
 * identical results and errors; a failed ADD is rolled back with DEL (nothing left); STATUS reports an
 * unusable IPAM; GC removes what is no longer valid, also from a fresh invoker (after a restart).
 */
import * as fs from 'node:fs';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Invoker, networkFromText, type LoadedNetwork } from '../../src/cni/invoker';
import { CniError } from '../../src/cni/pkg/errors';
import type { Result } from '../../src/cni/pkg/types';
import { describeIf, ipv6 } from '../helpers/host';
import { cleanupTempDirs, tempDir } from './helpers';
import { OCT, PID, berthBinDir, bridgePorts, cleanupNet, netns, requireNet, trackLink, trackOwner } from './net-helpers';

let binDir: string;
beforeAll(async () => {
  requireNet();
  binDir = await berthBinDir();
});
afterAll(async () => {
  await cleanupNet();
  cleanupTempDirs();
});

const bridge = `bi${PID}`;
function net(dataDir: string, extra: Record<string, unknown>[] = [], subnet = `10.${OCT}.20.0/24`): LoadedNetwork {
  trackLink(bridge);
  return networkFromText(JSON.stringify({
    cniVersion: '1.1.0',
    name: `binv${PID}`,
    plugins: [
      { type: 'berth-bridge', bridge, isDefaultGateway: true, ipMasq: true, ipam: { type: 'berth-host-local', dataDir, ranges: [[{ subnet }], [{ subnet: `fd00:${OCT}:20::/64` }]] } },
      { type: 'berth-portmap', capabilities: { portMappings: true } },
      { type: 'berth-loopback' },
      ...extra,
    ],
  }));
}

/** A result without what is random by design (host veth name, MACs). */
function stable(r: Result): unknown {
  return { ...r, interfaces: r.interfaces?.map((i) => ({ ...i, name: i.name.startsWith('veth') ? 'veth*' : i.name, mac: i.mac ? 'mac' : undefined })) };
}

// Every network here is dual stack (an IPv6 range next to the IPv4 one).
describeIf(ipv6())('dual-stack networks', () => {
  test('in-process and exec give identical results and errors', async () => {
    const ns = netns('eq');
    const inproc = new Invoker({ binDirs: [binDir], cacheDir: tempDir() });
    const exec = new Invoker({ binDirs: [binDir], cacheDir: tempDir(), registry: {} });
    const outcomes: unknown[][] = [[], []];
    for (const [k, inv] of [inproc, exec].entries()) {
      const n = net(tempDir());
      trackOwner(n.list.name, `eq${PID}`, 'nftables');
      const att = { containerId: `eq${PID}`, netns: ns, ifname: 'eth0', capabilityArgs: { portMappings: [{ hostPort: 40000 + (PID % 20000), containerPort: 80 }] } };
      outcomes[k].push(stable(await inv.add(n, att)));
      await inv.check(n, att);
      await inv.del(n, att);
      expect(bridgePorts(bridge)).toEqual([]);
      for (const bad of [{ ...att, netns: '/var/run/netns/berth-none' }, { ...att, ifname: 'bad/name' }]) {
        const err = await inv.add(n, bad).then(() => undefined, (e: CniError) => ({ code: e.code, msg: e.message }));
        outcomes[k].push(err);
      }
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
    expect(outcomes[0][1]).toEqual({ code: 4, msg: expect.stringMatching(/CNI_NETNS/) });
  });

  test('a failed ADD is rolled back with DEL', async () => {
    const ns = netns('rb');
    const dataDir = tempDir();
    const cacheDir = tempDir();
    const n = net(dataDir, [{ type: 'berth-portmap', capabilities: { portMappings: true } }]);
    trackOwner(n.list.name, `rb${PID}`, 'nftables');
    const inv = new Invoker({ binDirs: [binDir], cacheDir });
    // The last plugin rejects the mapping: by then the bridge, IPAM and the first portmap have done their work.
    const err = await inv.add(n, { containerId: `rb${PID}`, netns: ns, ifname: 'eth0', capabilityArgs: { portMappings: [{ hostPort: 0, containerPort: 80 }] } }).catch((e: CniError) => e);
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(7);
    expect((err as CniError).message).toMatch(/runtimeConfig\.portMappings\[0\]\.hostPort/);
    expect(bridgePorts(bridge)).toEqual([]);
    expect(fs.readdirSync(`${dataDir}/${n.list.name}`).filter((f) => !f.startsWith('last_reserved'))).toEqual([]);
    expect(fs.existsSync(`${cacheDir}/results`) ? fs.readdirSync(`${cacheDir}/results`) : []).toEqual([]);
  });

  test('STATUS: ready, then not available when the IPAM data dir is unusable', async () => {
    const inv = new Invoker({ binDirs: [binDir], cacheDir: tempDir() });
    await inv.status(net(tempDir()));
    const file = `${tempDir()}/not-a-dir`;
    fs.writeFileSync(file, '');
    const err = await inv.status(net(file)).catch((e: CniError) => e);
    expect((err as CniError).code).toBe(50);
  });

  test('GC deletes attachments that are no longer valid, after a restart', async () => {
    const [ns1, ns2] = [netns('g1'), netns('g2')];
    const dataDir = tempDir();
    const cacheDir = tempDir();
    const n = net(dataDir);
    for (const id of [`g1${PID}`, `g2${PID}`]) trackOwner(n.list.name, id, 'nftables');
    const first = new Invoker({ binDirs: [binDir], cacheDir });
    const r1 = await first.add(n, { containerId: `g1${PID}`, netns: ns1, ifname: 'eth0' });
    await first.add(n, { containerId: `g2${PID}`, netns: ns2, ifname: 'eth0' });
    expect(bridgePorts(bridge)).toHaveLength(2);
    const restarted = new Invoker({ binDirs: [binDir], cacheDir });
    await restarted.gc(n, [{ containerId: `g1${PID}`, ifname: 'eth0' }]);
    expect(bridgePorts(bridge)).toEqual([r1.interfaces![1].name]);
    expect(fs.readdirSync(`${cacheDir}/results`)).toEqual([`${n.list.name}-g1${PID}-eth0`]);
    const held = fs.readdirSync(`${dataDir}/${n.list.name}`).filter((f) => !f.startsWith('last_reserved')).sort();
    expect(held).toEqual([r1.ips![0].address.split('/')[0], r1.ips![1].address.split('/')[0]].sort());
    await restarted.del(n, { containerId: `g1${PID}`, netns: ns1, ifname: 'eth0' });
    expect(bridgePorts(bridge)).toEqual([]);
  });
});
