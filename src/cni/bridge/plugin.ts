/**
 * berth-bridge: a bridge on the host, a veth pair per container (the container end moved into its netns and
 * named CNI_IFNAME), addresses and routes from the IPAM plugin, gateway addresses on the bridge, masquerade.
 * Every link, address and route change of one command is one batch for berth-netlink (one exec).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { BerthError } from '../../common/errors';
import { hostLocal } from '../host-local/plugin';
import { invalidConfig } from '../pkg/errors';
import { setupMasq, teardownMasq, type Family, type MasqEntry, type Owner } from '../pkg/firewall';
import { ipamAdd, ipamCall } from '../pkg/ipam';
import { formatCIDR, formatIP, networkOf, nextIP, parseCIDR, parseIP } from '../pkg/ip';
import type { PluginRegistry } from '../pkg/invoke';
import { NetlinkError, checkNetnsPath, linkIn, netnsExists, runNetlink, type NetOp } from '../pkg/netlink';
import type { CmdArgs, PluginHandlers } from '../pkg/skel';
import type { IPConfig, Result, Route } from '../pkg/types';
import { loadBridgeConfig, type BridgeConfig } from './config';

/** IPAM plugins that run in-process instead of being exec'd (our own, by their executable's name). */
export const IPAM_IN_PROCESS: PluginRegistry = { 'berth-host-local': hostLocal };

const DEFAULT_DST: Record<Family, string> = { 4: '0.0.0.0/0', 6: '::/0' };

const familyOf = (cidrOrIp: string): Family => (parseCIDR(cidrOrIp) ?? { ip: parseIP(cidrOrIp) }).ip?.family ?? 4;
const addressOf = (cidr: string): string => cidr.slice(0, cidr.indexOf('/'));
const owner = (args: CmdArgs): Owner => ({ network: args.conf.name, containerID: args.containerId });

interface Plan {
  ips: IPConfig[];
  routes: Route[];
  /** Gateway addresses for the bridge, "ip/prefix". */
  bridgeAddrs: string[];
}

/** Gateways and routes from the IPAM result and the gateway options (the reference plugin's rules). */
function planAddresses(cfg: BridgeConfig, ipam: Result): Plan {
  const routes = [...(ipam.routes ?? [])];
  const bridgeAddrs: string[] = [];
  const defaulted = new Set<Family>();
  const ips = (ipam.ips ?? []).map((c) => {
    const net = parseCIDR(c.address);
    if (!net) throw invalidConfig('prevResult.ips', `IPAM returned a bad address ${JSON.stringify(c.address)}`);
    const ipc: IPConfig = { ...c, interface: 2 };
    if (!ipc.gateway && cfg.isGateway) ipc.gateway = formatIP(nextIP(networkOf(net)));
    const family = net.ip.family;
    if (cfg.isDefaultGateway && ipc.gateway && !defaulted.has(family)) {
      defaulted.add(family);
      const existing = routes.find((r) => r.dst === DEFAULT_DST[family]);
      if (existing?.gw && existing.gw !== ipc.gateway) {
        throw invalidConfig('isDefaultGateway', `isDefaultGateway ineffective because IPAM sets default route via ${JSON.stringify(existing.gw)}`);
      }
      if (!existing) routes.push({ dst: DEFAULT_DST[family], gw: ipc.gateway });
    }
    if (cfg.isGateway && ipc.gateway) {
      const gw = `${ipc.gateway}/${net.prefix}`;
      if (!bridgeAddrs.includes(gw)) bridgeAddrs.push(gw);
    }
    return ipc;
  });
  return { ips, routes, bridgeAddrs };
}

function hostVethName(): string {
  return `veth${crypto.randomBytes(4).toString('hex')}`;
}

/** Host sysctls are written by this process directly (it is in the host's namespace): no exec. */
function enableForwarding(families: Set<Family>): void {
  const set = (file: string) => {
    if (fs.readFileSync(file, 'utf8').trim() !== '1') fs.writeFileSync(file, '1');
  };
  if (families.has(4)) set('/proc/sys/net/ipv4/ip_forward');
  if (families.has(6)) set('/proc/sys/net/ipv6/conf/all/forwarding');
}

function addOps(cfg: BridgeConfig, args: CmdArgs, veth: string, plan: Plan): NetOp[] {
  const ifname = args.ifname;
  const ops: NetOp[] = [
    { op: 'bridge', name: cfg.bridge, mtu: cfg.mtu || undefined, promisc: cfg.promiscMode || undefined },
    { op: 'veth', name: veth, peer: ifname, netns: args.netns, mtu: cfg.mtu || undefined, mac: cfg.mac },
    { op: 'set', name: veth, master: cfg.bridge, hairpin: cfg.hairpinMode || undefined, up: true },
    { op: 'show', name: veth },
    { op: 'ns', netns: args.netns },
  ];
  const families = new Set(plan.ips.map((c) => familyOf(c.address)));
  if (families.has(6) && !cfg.enableDad) ops.push({ op: 'sysctl', key: `net/ipv6/conf/${ifname}/accept_dad`, value: '0', optional: true });
  if (families.has(4)) ops.push({ op: 'sysctl', key: `net/ipv4/conf/${ifname}/arp_notify`, value: '1', optional: true });
  ops.push({ op: 'set', name: ifname, up: true });
  for (const c of plan.ips) ops.push({ op: 'addr', name: ifname, cidr: c.address, nodad: !cfg.enableDad });
  for (const r of plan.routes) {
    const family = familyOf(r.dst);
    const gw = r.gw ?? plan.ips.find((c) => c.gateway && familyOf(c.address) === family)?.gateway;
    ops.push({ op: 'route', name: ifname, dst: r.dst, gw, metric: r.priority, mtu: r.mtu, advmss: r.advmss, table: r.table, scope: r.scope });
  }
  ops.push({ op: 'show', name: ifname }, { op: 'ns', netns: 'host' });
  for (const gw of plan.bridgeAddrs) ops.push({ op: 'gwaddr', name: cfg.bridge, cidr: gw, force: cfg.forceAddress });
  ops.push({ op: 'show', name: cfg.bridge });
  return ops;
}

function masqEntries(ips: IPConfig[]): MasqEntry[] {
  return ips.map((c) => {
    const net = parseCIDR(c.address)!;
    return { family: net.ip.family, ip: addressOf(c.address), subnet: formatCIDR({ ip: networkOf(net), prefix: net.prefix }) };
  });
}

/**
 * Removes what an ADD of this container may have made. The three parts are independent (addresses on disk,
 * links, firewall chains), so they run concurrently; every one runs, the first failure is rethrown.
 */
async function cleanup(cfg: BridgeConfig, args: CmdArgs, families: Family[]): Promise<void> {
  const steps: Array<Promise<unknown>> = [];
  if (cfg.hasIpam) steps.push(ipamCall(args, 'DEL', IPAM_IN_PROCESS));
  if (netnsExists(args.netns)) steps.push(runNetlink([{ op: 'ns', netns: args.netns, optional: true }, { op: 'del', name: args.ifname }]));
  if (cfg.ipMasq) steps.push(teardownMasq(owner(args), families, cfg.ipMasqBackend));
  const failed = (await Promise.allSettled(steps)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function add(args: CmdArgs): Promise<Result> {
  const cfg = loadBridgeConfig(args.conf);
  checkNetnsPath(args.netns);
  const ipam: Result = cfg.hasIpam ? await ipamAdd(args, IPAM_IN_PROCESS) : { cniVersion: args.conf.cniVersion };
  const veth = hostVethName();
  let plan: Plan | undefined;
  try {
    if (cfg.hasIpam && (ipam.ips ?? []).length === 0) throw new BerthError('Internal', 'IPAM plugin returned missing IP config');
    plan = planAddresses(cfg, ipam);
    // The masquerade rules need only the addresses: they are written while the links are made.
    const masq = cfg.ipMasq ? setupMasq(owner(args), masqEntries(plan.ips), cfg.ipMasqBackend) : Promise.resolve();
    masq.catch(() => undefined);
    let facts;
    try {
      facts = await runNetlink(addOps(cfg, args, veth, plan));
    } catch (err) {
      if (err instanceof NetlinkError && err.op?.op === 'veth' && err.kind === 'AlreadyExists') {
        throw new BerthError('AlreadyExists', `container veth name provided (${args.ifname}) already exists`, { cause: err });
      }
      if (err instanceof NetlinkError && err.op?.op === 'gwaddr' && err.kind === 'AlreadyExists') {
        throw new BerthError('FailedPrecondition', `${JSON.stringify(cfg.bridge)} already has an IP address different from ${err.op.cidr} (set forceAddress to replace it)`, { cause: err });
      }
      throw err;
    }
    const families = new Set(plan.bridgeAddrs.map(familyOf));
    if (cfg.isGateway) enableForwarding(families);
    await masq;
    const br = linkIn(facts, 'host', cfg.bridge)!;
    const host = linkIn(facts, 'host', veth)!;
    const cont = linkIn(facts, args.netns, args.ifname)!;
    const result: Result = {
      cniVersion: args.conf.cniVersion,
      interfaces: [{ name: br.name, mac: br.mac }, { name: host.name, mac: host.mac }, { name: cont.name, mac: cont.mac, sandbox: args.netns }],
      ips: plan.ips,
    };
    if (plan.routes.length > 0) result.routes = plan.routes;
    const confDns = args.conf.dns;
    const dns = confDns && Object.keys(confDns).length > 0 ? confDns : ipam.dns;
    // As the reference plugin: the IPAM's dns (even empty) unless the config sets one.
    if (dns) result.dns = dns;
    return result;
  } catch (err) {
    await cleanup(cfg, args, plan ? [...new Set(plan.ips.map((c) => familyOf(c.address)))] : [4, 6]).catch(() => undefined);
    throw err;
  }
}

async function del(args: CmdArgs): Promise<void> {
  const cfg = loadBridgeConfig(args.conf);
  const prevFamilies = (args.conf.prevResult?.ips ?? []).map((c) => familyOf(c.address));
  await cleanup(cfg, args, prevFamilies.length > 0 ? [...new Set(prevFamilies)] : [4, 6]);
}

async function check(args: CmdArgs): Promise<void> {
  const cfg = loadBridgeConfig(args.conf);
  const prev = args.conf.prevResult;
  if (!prev) throw invalidConfig('prevResult', 'Required prevResult missing');
  checkNetnsPath(args.netns);
  if (cfg.hasIpam) await ipamCall(args, 'CHECK', IPAM_IN_PROCESS);
  const ifaces = prev.interfaces ?? [];
  const contIdx = ifaces.findIndex((i) => i.name === args.ifname && i.sandbox === args.netns);
  if (contIdx < 0) throw new BerthError('FailedPrecondition', `prevResult has no interface ${args.ifname} in ${args.netns}`);
  const hostIf = ifaces.find((i) => !i.sandbox && i.name !== cfg.bridge);
  const ops: NetOp[] = [{ op: 'show', name: cfg.bridge }];
  if (hostIf) ops.push({ op: 'show', name: hostIf.name });
  ops.push({ op: 'ns', netns: args.netns }, { op: 'show', name: args.ifname }, { op: 'addrs', name: args.ifname }, { op: 'routes', name: args.ifname });
  const facts = await runNetlink(ops);
  const br = linkIn(facts, 'host', cfg.bridge);
  if (!br || br.kind !== 'bridge') throw new BerthError('FailedPrecondition', `bridge ${cfg.bridge} is missing`);
  if (hostIf) {
    const h = linkIn(facts, 'host', hostIf.name);
    if (!h || h.master !== br.index) throw new BerthError('FailedPrecondition', `host interface ${hostIf.name} is missing or not attached to ${cfg.bridge}`);
  }
  const cont = linkIn(facts, args.netns, args.ifname);
  if (!cont) throw new BerthError('FailedPrecondition', `interface ${args.ifname} is missing in ${args.netns}`);
  const want = ifaces[contIdx].mac;
  if (want && want.toLowerCase() !== cont.mac) throw new BerthError('FailedPrecondition', `interface ${args.ifname} has MAC ${cont.mac}, not ${want}`);
  const have = new Set(facts.addrs.filter((a) => a.netns === args.netns).map((a) => formatCIDR(parseCIDR(a.cidr)!)));
  for (const c of prev.ips ?? []) {
    if (c.interface !== contIdx) continue;
    if (!have.has(formatCIDR(parseCIDR(c.address)!))) throw new BerthError('FailedPrecondition', `address ${c.address} is missing on ${args.ifname}`);
  }
  const routes = new Set(facts.routes.filter((r) => r.netns === args.netns).map((r) => r.dst));
  for (const r of prev.routes ?? []) {
    const n = parseCIDR(r.dst);
    if (n && !routes.has(formatCIDR({ ip: networkOf(n), prefix: n.prefix }))) throw new BerthError('FailedPrecondition', `route to ${r.dst} is missing in ${args.netns}`);
  }
}

async function status(args: CmdArgs): Promise<void> {
  const cfg = loadBridgeConfig(args.conf);
  if (cfg.hasIpam) await ipamCall(args, 'STATUS', IPAM_IN_PROCESS);
}

async function gc(args: CmdArgs): Promise<void> {
  const cfg = loadBridgeConfig(args.conf);
  if (cfg.hasIpam) await ipamCall(args, 'GC', IPAM_IN_PROCESS);
}

export const bridge: PluginHandlers = { name: 'bridge', add, del, check, status, gc };
