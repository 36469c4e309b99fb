/**
 * Differential against Debian's reference plugins (/usr/lib/cni: bridge, host-local, portmap, loopback): the
 * same conflist, run once with theirs and once with ours (same bridge, fresh data dir), gives the same
 * container interfaces, addresses, routes, bridge addresses, result JSON (random parts aside) and
 * reachability (gateway ping, host port).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Invoker, networkFromText } from '../../src/cni/invoker';
import type { Result } from '../../src/cni/pkg/types';
import { describeIf, ipv6 } from '../helpers/host';
import { REFERENCE_DIR, cleanupTempDirs, execRunner, ok, requireCni, tempDir } from './helpers';
import { OCT, PID, berthBinDir, cleanupNet, freePort, inNetns, netns, ping, requireNet, tcpGet, tcpServer, trackLink, trackOwner } from './net-helpers';

beforeAll(() => {
  requireNet();
  requireCni('bridge', 'host-local', 'portmap', 'loopback');
});
/**
 * The reference portmap leaves its shared CNI-HOSTPORT-* chains behind, for IPv4 and IPv6: remove them when no
 * container uses them.
 */
function pruneReferenceChains(): void {
  for (const [save, restore] of ipv6().present ? [['iptables-save', 'iptables-restore'], ['ip6tables-save', 'ip6tables-restore']] : [['iptables-save', 'iptables-restore']]) {
    const saved = execFileSync(save, ['-t', 'nat'], { encoding: 'utf8' }).split('\n');
    if (saved.some((l) => l.startsWith(':CNI-DN-'))) continue;
    const shared = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'].filter((c) => saved.some((l) => l.startsWith(`:${c} `)));
    if (shared.length === 0) continue;
    const lines = saved.filter((l) => l.startsWith('-A ') && shared.some((c) => l.endsWith(`-j ${c}`) || l.includes(`-j ${c} `))).map((l) => `-D ${l.slice(3)}`);
    for (const c of shared) lines.push(`-F ${c}`, `-X ${c}`);
    execFileSync(restore, ['--noflush', '--wait'], { input: ['*nat', ...lines, 'COMMIT', ''].join('\n') });
  }
}

afterAll(async () => {
  try {
    pruneReferenceChains();
  } finally {
    await cleanupNet();
    cleanupTempDirs();
  }
});

const bridge = `bd${PID}`;

function conflist(prefix: string, dataDir: string, cniVersion: string): string {
  return JSON.stringify({
    cniVersion,
    name: `bdiff${PID}`,
    plugins: [
      { type: `${prefix}bridge`, bridge, isGateway: true, isDefaultGateway: true, hairpinMode: true, mtu: 1400, ipam: { type: `${prefix}host-local`, dataDir, ranges: [[{ subnet: `10.${OCT}.40.0/24` }], [{ subnet: `fd00:${OCT}:40::/64` }]], routes: [{ dst: '192.168.77.0/24' }] } },
      { type: `${prefix}portmap`, capabilities: { portMappings: true } },
      { type: `${prefix}loopback` },
    ],
  });
}

interface View {
  result: unknown;
  links: unknown;
  routes: unknown;
  bridgeAddrs: unknown;
  reach: unknown;
}

/** What the container sees, with what is random by design (MACs, the host veth name) left out. */
async function observe(ns: string, r: Result, port: number): Promise<View> {
  const links = (JSON.parse(inNetns(ns, ['ip', '-j', 'addr', 'show'])) as any[]).map((l) => ({
    ifname: l.ifname, mtu: l.mtu, up: l.flags.includes('UP'), operstate: l.operstate,
    addrs: l.addr_info.filter((a: any) => a.scope !== 'link').map((a: any) => `${a.local}/${a.prefixlen} ${a.scope}`).sort(),
  }));
  const routes = [4, 6].flatMap((f) => (JSON.parse(inNetns(ns, ['ip', `-${f}`, '-j', 'route', 'show'])) as any[])
    .filter((x) => !String(x.dst).startsWith('fe80'))
    .map((x) => `${x.dst} via ${x.gateway ?? '-'} dev ${x.dev} scope ${x.scope ?? 'global'} metric ${x.metric ?? 0}`)).sort();
  const bridgeAddrs = (JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' })) as any[])[0]
    .addr_info.filter((a: any) => a.scope !== 'link').map((a: any) => `${a.local}/${a.prefixlen}`).sort();
  const result = { ...r, interfaces: r.interfaces?.map((i) => ({ ...i, name: i.name.startsWith('veth') ? 'veth*' : i.name, mac: i.mac ? 'mac' : undefined, sandbox: i.sandbox ? 'netns' : undefined })) };
  await tcpServer(ns, 8080, 'diff');
  // The reference adds the bridge's IPv6 address with DAD: give it the seconds DAD takes.
  const pingSoon = (ip: string) => [0, 1, 2].some(() => ping(ns, ip));
  const reach = { gateway: pingSoon(`10.${OCT}.40.1`), gateway6: pingSoon(`fd00:${OCT}:40::1`), hostPort: /^diff /.test(tcpGet('127.0.0.1', port)) };
  return { result, links, routes, bridgeAddrs, reach };
}

// Dual stack: the conflist has an IPv6 range and the check pings the IPv6 gateway.
describeIf(ipv6())('the same conflist, IPv4 and IPv6', () => {
  test.each(['1.0.0', '0.4.0'])('cniVersion %s: same interfaces, addresses, routes, results and reachability', async (cniVersion) => {
    trackLink(bridge);
    const views: View[] = [];
    for (const [k, prefix, binDirs] of [[0, '', ['/usr/lib/cni']], [1, 'berth-', ['/nonexistent']]] as const) {
      const ns = netns(`d${k}${cniVersion.replace(/\./g, '')}`);
      const net = networkFromText(conflist(prefix, tempDir(), cniVersion));
      trackOwner(net.list.name, `diff${PID}`, 'nftables');
      const inv = new Invoker({ binDirs: [...binDirs], cacheDir: tempDir() });
      const port = freePort();
      const att = { containerId: `diff${PID}`, netns: ns, ifname: 'eth0', capabilityArgs: { portMappings: [{ hostPort: port, containerPort: 8080, protocol: 'tcp' }] } };
      const r = await inv.add(net, att);
      views.push(await observe(ns, r, port));
      await inv.del(net, att);
      execFileSync('ip', ['netns', 'del', ns.split('/').pop()!]);
      execFileSync('ip', ['link', 'del', bridge]);
    }
    expect(views[1]).toEqual(views[0]);
    expect(views[0].reach).toEqual({ gateway: true, gateway6: true, hostPort: true });
  });
});

// cri-dockerd (like dockershim before it) brings up a sandbox's lo with a cniVersion 0.2.0 config of its own.
// The reference plugin (1.1) accepts it but prints a 1.0-shaped result labelled 0.2.0; ours is the 0.2.0 format
// of the spec (both parse as 0.2.0 results in libcni: unknown fields are ignored).
test.each(['0.2.0', '0.1.0'])('loopback with cniVersion %s (cri-dockerd\'s lo config): lo up as with the reference, the spec\'s result', async (cniVersion) => {
  const bin = await berthBinDir();
  const conf = { cniVersion, name: 'cni-loopback', type: 'loopback' };
  const results: any[] = [];
  for (const [tag, argv] of [['r', `${REFERENCE_DIR}/loopback`], ['b', `${bin}/berth-loopback`]] as const) {
    const ns = netns(`lo${tag}${cniVersion.replace(/\./g, '')}`);
    results.push(await ok(execRunner(argv), { command: 'ADD', containerId: `lo${tag}`, ifname: 'lo', netns: ns }, conf));
    expect(inNetns(ns, ['ip', '-o', 'addr', 'show', 'lo'])).toMatch(/inet 127\.0\.0\.1\/8/);
    expect(inNetns(ns, ['ip', '-o', 'link', 'show', 'lo'])).toMatch(/[<,]UP[,>]/);
  }
  expect(results[0].cniVersion).toBe(cniVersion);
  expect(results[1]).toEqual({ cniVersion, ip4: { ip: '127.0.0.1/8' }, ...(results[0].ips?.some((i: any) => i.address === '::1/128') ? { ip6: { ip: '::1/128' } } : {}) });
});
