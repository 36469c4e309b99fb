/**
 * berth-portmap: host ports DNAT'ed to the container's addresses (from prevResult), with hairpin (from the
 * container's own subnet) and localhost access (marked for masquerade; route_localnet on the host side), in
 * per-container chains that DEL removes. One firewall transaction per command and family.
 */
import * as fs from 'node:fs';
import { BerthError } from '../../common/errors';
import { invalidConfig } from '../pkg/errors';
import { ownedChains, chainNames, detectBackend, setupPorts, teardownPorts, type Family, type Owner, type PortEntry } from '../pkg/firewall';
import { formatCIDR, formatIP, networkOf, parseCIDR, parseIP } from '../pkg/ip';
import type { CmdArgs, PluginHandlers } from '../pkg/skel';
import type { Result } from '../pkg/types';
import { loadPortmapConfig, type Mapping } from './config';

const owner = (args: CmdArgs): Owner => ({ network: args.conf.name, containerID: args.containerId });

function entries(mappings: Mapping[], prev: Result): PortEntry[] {
  const out: PortEntry[] = [];
  const ifaces = prev.interfaces ?? [];
  // The container's addresses: those on a sandbox interface (all of them when interfaces are not given).
  const ips = (prev.ips ?? []).filter((c) => c.interface === undefined || ifaces[c.interface]?.sandbox !== undefined || ifaces.length === 0);
  for (const m of mappings) {
    const hostFamily = m.hostIP ? parseIP(m.hostIP)!.family : undefined;
    for (const family of [4, 6] as const) {
      if (hostFamily && hostFamily !== family) continue;
      const c = ips.find((x) => parseCIDR(x.address)?.ip.family === family);
      if (!c) continue;
      const net = parseCIDR(c.address)!;
      out.push({ family, protocol: m.protocol, hostPort: m.hostPort, containerPort: m.containerPort, hostIP: m.hostIP, containerIP: formatIP(net.ip), subnet: formatCIDR({ ip: networkOf(net), prefix: net.prefix }) });
    }
  }
  return out;
}

/** Localhost → container needs the host side to accept 127.0.0.0/8 sources (route_localnet). */
function enableLocalnet(prev: Result): void {
  for (const i of prev.interfaces ?? []) {
    if (i.sandbox) continue;
    const file = `/proc/sys/net/ipv4/conf/${i.name}/route_localnet`;
    try {
      if (fs.readFileSync(file, 'utf8').trim() !== '1') fs.writeFileSync(file, '1');
    } catch {
      // not on this host (an interface of another namespace): nothing to enable
    }
  }
}

async function add(args: CmdArgs): Promise<Result> {
  const cfg = loadPortmapConfig(args.conf);
  const prev = args.conf.prevResult;
  if (!prev) throw invalidConfig('prevResult', 'must be called as a chained plugin (prevResult missing)');
  const list = entries(cfg.mappings, prev);
  if (list.length === 0) return prev;
  try {
    await setupPorts(owner(args), list, cfg.backend);
  } catch (err) {
    await teardownPorts(owner(args), [4, 6], cfg.backend).catch(() => undefined);
    throw err;
  }
  if (list.some((e) => e.family === 4)) enableLocalnet(prev);
  return prev;
}

async function del(args: CmdArgs): Promise<void> {
  const cfg = loadPortmapConfig(args.conf);
  const fams = (args.conf.prevResult?.ips ?? []).map((c) => parseCIDR(c.address)?.ip.family).filter((f): f is Family => f !== undefined);
  await teardownPorts(owner(args), fams.length > 0 ? [...new Set(fams)] : [4, 6], cfg.backend);
}

async function check(args: CmdArgs): Promise<void> {
  const cfg = loadPortmapConfig(args.conf);
  const prev = args.conf.prevResult;
  if (!prev) throw invalidConfig('prevResult', 'must be called as a chained plugin (prevResult missing)');
  if (entries(cfg.mappings, prev).length === 0) return;
  const backend = cfg.backend ?? detectBackend();
  const want = chainNames(owner(args))[backend][1];
  if (!(await ownedChains(backend)).includes(want)) throw new BerthError('FailedPrecondition', `port mappings of container ${args.containerId} are missing (chain ${want})`);
}

export const portmap: PluginHandlers = { name: 'portmap', add, del, check };
