/**
 * Traffic through berth-bridge + berth-host-local + berth-portmap + berth-loopback, run by the invoker
 * in-process, on both firewall backends: two namespaces ping each other and the host through the bridge,
 * a TCP server in a namespace is reached through the host port (127.0.0.1, the host's address, and hairpin
 * from the other container), masquerade is proven by a peer that has no route back to the pod subnet, and
 * is visible in conntrack; DEL removes every link, address file, chain and cache entry.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Invoker, networkFromText, type LoadedNetwork } from '../../src/cni/invoker';
import { chainNames, ownedChains, type Backend } from '../../src/cni/pkg/firewall';
import { describeIf, ipv6 } from '../helpers/host';
import { cleanupTempDirs, tempDir } from './helpers';
import { OCT, PID, bridgePorts, cleanupNet, freePort, hostIPv4, inNetns, linkExists, netns, ping, requireNet, tcpGet, tcpServer, trackLink, trackOwner } from './net-helpers';

beforeAll(requireNet);
afterAll(async () => {
  await cleanupNet();
  cleanupTempDirs();
});

function conflist(backend: Backend, n: number, dataDir: string, bridge: string): LoadedNetwork {
  return networkFromText(JSON.stringify({
    cniVersion: '1.1.0',
    name: `btest${PID}${n}`,
    plugins: [
      {
        type: 'berth-bridge', bridge, isGateway: true, isDefaultGateway: true, ipMasq: true, ipMasqBackend: backend, hairpinMode: true,
        ipam: { type: 'berth-host-local', dataDir, ranges: [[{ subnet: `10.${OCT}.${n}.0/24` }], [{ subnet: `fd00:${OCT}:${n}::/64` }]] },
      },
      { type: 'berth-portmap', backend, capabilities: { portMappings: true } },
      { type: 'berth-loopback' },
    ],
  }));
}

// Dual stack (an IPv6 range, pings over IPv6): on a host without IPv6 the blocks are skipped, named so.
describe.each<[Backend, number]>([['nftables', 1], ['iptables', 2]])('backend %s', (backend, n) => describeIf(ipv6())('IPv4 and IPv6', () => {
  const bridge = `bt${PID}${n}`;
  const dataDir = tempDir();
  const cacheDir = tempDir();
  const net = conflist(backend, n, dataDir, bridge);
  const invoker = new Invoker({ binDirs: ['/usr/lib/cni'], cacheDir });
  let a: string;
  let b: string;
  let outside: string;
  const port = freePort();
  const ids = [`a${PID}`, `b${PID}`];

  beforeAll(async () => {
    trackLink(bridge);
    a = netns(`a${n}`);
    b = netns(`b${n}`);
    outside = netns(`o${n}`);
    for (const id of ids) trackOwner(net.list.name, id, backend);
  });

  test('ADD, traffic, CHECK, DEL', async () => {
    const ra = await invoker.add(net, { containerId: ids[0], netns: a, ifname: 'eth0', capabilityArgs: { portMappings: [{ hostPort: port, containerPort: 8080, protocol: 'tcp' }] } });
    const rb = await invoker.add(net, { containerId: ids[1], netns: b, ifname: 'eth0' });
    const ipA = ra.ips![0].address.split('/')[0];
    const ipB = rb.ips![0].address.split('/')[0];
    const ip6B = rb.ips![1].address.split('/')[0];
    expect(ra.interfaces!.map((i) => i.name)).toEqual([bridge, expect.stringMatching(/^veth/), 'eth0']);
    expect(ra.ips!.map((i) => i.address)).toEqual([`10.${OCT}.${n}.2/24`, `fd00:${OCT}:${n}::2/64`]);
    expect(ra.routes).toEqual([{ dst: '0.0.0.0/0', gw: `10.${OCT}.${n}.1` }, { dst: '::/0', gw: `fd00:${OCT}:${n}::1` }]);
    expect(inNetns(a, ['ip', '-o', 'link', 'show', 'lo'])).toMatch(/UP/);

    // Pod to pod, pod to host (the gateway), host to pod, over IPv4 and IPv6.
    expect(ping(a, ipB)).toBe(true);
    expect(ping(b, ipA)).toBe(true);
    expect(ping(a, ip6B)).toBe(true);
    expect(ping(a, `10.${OCT}.${n}.1`)).toBe(true);
    execFileSync('busybox', ['ping', '-c', '1', '-W', '2', ipA]);

    // Host port → pod: from the host over 127.0.0.1 and the host's address, and hairpin from the other pod.
    await tcpServer(a, 8080, 'hello-from-a');
    expect(tcpGet('127.0.0.1', port)).toMatch(/^hello-from-a /);
    const hostIP = hostIPv4();
    expect(tcpGet(hostIP, port)).toMatch(/^hello-from-a /);
    expect(tcpGet(hostIP, port, b)).toMatch(/^hello-from-a /);
    // The pod reaching its own host port (hairpin) needs hairpinMode and the masquerade mark.
    expect(tcpGet(hostIP, port, a)).toMatch(/^hello-from-a /);

    // Masquerade: `outside` has an address only on a link to the host and no route to the pod subnet, so
    // only a masqueraded packet gets an answer.
    const hv = `bco${PID}${n}`;
    trackLink(hv);
    execFileSync('ip', ['link', 'add', hv, 'type', 'veth', 'peer', 'name', 'eth9', 'netns', outside.split('/').pop()!]);
    execFileSync('ip', ['addr', 'add', `198.18.${n}.1/30`, 'dev', hv]);
    execFileSync('ip', ['link', 'set', hv, 'up']);
    inNetns(outside, ['ip', 'addr', 'add', `198.18.${n}.2/30`, 'dev', 'eth9']);
    inNetns(outside, ['ip', 'link', 'set', 'eth9', 'up']);
    await tcpServer(outside, 9090, 'outside');
    const seen = tcpGet(`198.18.${n}.2`, 9090, a);
    expect(seen).toBe(`outside ::ffff:198.18.${n}.1`);
    const ct = execFileSync('conntrack', ['-L', '-p', 'tcp', '-s', ipA, '-d', `198.18.${n}.2`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(ct).toMatch(new RegExp(`src=198\\.18\\.${n}\\.2 dst=198\\.18\\.${n}\\.1 `));
    const names = chainNames({ network: net.list.name, containerID: ids[0] })[backend];
    expect(await ownedChains(backend)).toEqual(expect.arrayContaining(names));

    await invoker.check(net, { containerId: ids[0], netns: a, ifname: 'eth0' });

    // DEL from a fresh invoker (as after a berthd restart): everything goes, twice is fine.
    const again = new Invoker({ binDirs: ['/usr/lib/cni'], cacheDir });
    for (const [id, ns] of [[ids[0], a], [ids[1], b]]) {
      await again.del(net, { containerId: id, netns: ns, ifname: 'eth0' });
      await again.del(net, { containerId: id, netns: ns, ifname: 'eth0' });
    }
    expect(bridgePorts(bridge)).toEqual([]);
    expect(linkExists(ra.interfaces![1].name)).toBe(false);
    const left = await ownedChains(backend);
    for (const id of ids) for (const c of chainNames({ network: net.list.name, containerID: id })[backend]) expect(left).not.toContain(c);
    expect(fs.readdirSync(`${dataDir}/${net.list.name}`).filter((f) => !f.startsWith('last_reserved'))).toEqual([]);
    expect(fs.readdirSync(`${cacheDir}/results`)).toEqual([]);
    expect(tcpGet('127.0.0.1', port)).not.toMatch(/hello/);
  });
}));
