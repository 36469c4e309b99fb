/**
 * host-local's configuration: the `ipam` section of the network config (plus `runtimeConfig.ipRanges`,
 * `runtimeConfig.ips`, `args.cni.ips` and CNI_ARGS `IP=`), validated and canonicalised the way the reference
 * plugin does it (same defaults, same order of range sets, same rejections), with errors naming the field.
 */
import { invalidConfig } from '../pkg/errors';
import { knownArgs } from '../pkg/env';
import { compareIP, contains, formatCIDR, formatIP, ipEqual, lastOf, networkOf, nextIP, parseCIDR, parseIP, type IP, type IPNet } from '../pkg/ip';
import { parseRoute } from '../pkg/result';
import type { NetConf, Route } from '../pkg/types';
import { asArray, asCIDR, asIP, asObject, isObject, join, member, optString, type Json } from '../pkg/validate';

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

export interface Range {
  /** The network (host bits are rejected). */
  subnet: IPNet;
  /** First allocatable address, inclusive. */
  rangeStart: IP;
  /** Last allocatable address, inclusive. */
  rangeEnd: IP;
  gateway: IP;
}

export type RangeSet = Range[];

export interface HostLocalConfig {
  name: string;
  cniVersion: string;
  ranges: RangeSet[];
  routes: Route[];
  dataDir: string;
  resolvConf?: string;
  /** Addresses asked for by CNI_ARGS, args or runtimeConfig. */
  requestedIPs: IP[];
}

export function rangeToString(r: Range): string {
  return `${formatIP(r.rangeStart)}-${formatIP(r.rangeEnd)}`;
}

export function rangeSetToString(s: RangeSet): string {
  return s.map(rangeToString).join(',');
}

/** Whether `ip` is allocatable in `r` (inside the subnet and within [rangeStart, rangeEnd]). */
export function rangeContains(r: Range, ip: IP): boolean {
  return contains(r.subnet, ip) && compareIP(ip, r.rangeStart) >= 0 && compareIP(ip, r.rangeEnd) <= 0;
}

export function rangeFor(s: RangeSet, ip: IP): Range | undefined {
  return s.find((r) => rangeContains(r, ip));
}

function overlaps(a: Range, b: Range): boolean {
  if (a.subnet.ip.family !== b.subnet.ip.family) return false;
  return rangeContains(a, b.rangeStart) || rangeContains(a, b.rangeEnd) || rangeContains(b, a.rangeStart) || rangeContains(b, a.rangeEnd);
}

/** One range: defaults filled in (gateway = network + 1, start = network + 1, end = last address, minus the broadcast for IPv4). */
function parseRange(v: unknown, field: string): Range {
  const o = asObject(v, field);
  const subnetValue = member(o, 'subnet');
  if (subnetValue === undefined || subnetValue === null || subnetValue === '') throw invalidConfig(join(field, 'subnet'), 'missing (required)');
  const subnet = asCIDR(subnetValue, join(field, 'subnet'));
  const net = networkOf(subnet);
  if (!ipEqual(net, subnet.ip)) {
    throw invalidConfig(join(field, 'subnet'), `network has host bits set: for a subnet mask of length ${subnet.prefix} the network address is ${formatIP(net)}`);
  }
  const bits = subnet.ip.family === 4 ? 32 : 128;
  if (subnet.prefix > bits - 2) throw invalidConfig(join(field, 'subnet'), `network ${formatCIDR(subnet)} too small to allocate from`);
  const inSubnet = (key: string): IP | undefined => {
    const s = optString(o, key, field);
    if (s === undefined || s === '') return undefined;
    const ip = asIP(s, join(field, key));
    if (ip.family !== subnet.ip.family) throw invalidConfig(join(field, key), `${s} is not the same protocol as subnet ${formatCIDR(subnet)}`);
    if (!contains(subnet, ip)) throw invalidConfig(join(field, key), `${s} not in network ${formatCIDR(subnet)}`);
    return ip;
  };
  const gateway = inSubnet('gateway') ?? nextIP(net);
  const rangeStart = inSubnet('rangeStart') ?? nextIP(net);
  let rangeEnd = inSubnet('rangeEnd');
  if (rangeEnd === undefined) {
    const last = lastOf(subnet);
    rangeEnd = subnet.ip.family === 4 ? { family: 4, value: last.value - 1n } : last;
  } else if (compareIP(rangeEnd, rangeStart) < 0) {
    throw invalidConfig(join(field, 'rangeEnd'), `${formatIP(rangeEnd)} is in network ${formatCIDR(subnet)} but before start ${formatIP(rangeStart)}`);
  }
  return { subnet, rangeStart, rangeEnd, gateway };
}

function parseRangeSet(v: unknown, field: string): RangeSet {
  const items = asArray(v, field);
  if (items.length === 0) throw invalidConfig(field, 'empty range set');
  const set = items.map((x, i) => parseRange(x, join(field, i)));
  for (let i = 1; i < set.length; i++) {
    if (set[i].subnet.ip.family !== set[0].subnet.ip.family) throw invalidConfig(join(field, i), 'mixed address families in one range set');
  }
  for (let i = 0; i < set.length; i++) {
    for (let j = i + 1; j < set.length; j++) {
      if (overlaps(set[i], set[j])) throw invalidConfig(join(field, j), `subnets ${rangeToString(set[i])} and ${rangeToString(set[j])} overlap`);
    }
  }
  return set;
}

function requestedIP(v: unknown, field: string): IP {
  if (typeof v === 'string') {
    const ip = parseIP(v) ?? parseCIDR(v)?.ip;
    if (ip) return ip;
  }
  throw invalidConfig(field, `cannot understand ip ${JSON.stringify(v)}`);
}

/** Reads host-local's configuration from a validated NetConf and the CNI_ARGS pairs. */
export function loadHostLocalConfig(conf: NetConf, cniArgs: Array<[string, string]>): HostLocalConfig {
  const raw = conf.raw;
  if (raw.ipam === undefined || raw.ipam === null) throw invalidConfig('ipam', "missing (required): IPAM config missing 'ipam' key");
  const ipam = asObject(raw.ipam, 'ipam');

  const requested: IP[] = [];
  const envArgs = knownArgs(cniArgs, ['IP']);
  if (envArgs.IP) {
    for (const s of envArgs.IP.split(',')) {
      const ip = parseIP(s.trim());
      if (!ip) throw invalidConfig('CNI_ARGS.IP', `cannot understand ip ${JSON.stringify(s)}`);
      requested.push(ip);
    }
  }
  if (isObject(raw.args) && raw.args.cni !== undefined) {
    const cni = asObject(raw.args.cni, 'args.cni');
    if (cni.ips !== undefined && cni.ips !== null) asArray(cni.ips, 'args.cni.ips').forEach((x, i) => requested.push(requestedIP(x, `args.cni.ips[${i}]`)));
  }
  const rc: Json = isObject(raw.runtimeConfig) ? raw.runtimeConfig : {};
  if (rc.ips !== undefined && rc.ips !== null) asArray(rc.ips, 'runtimeConfig.ips').forEach((x, i) => requested.push(requestedIP(x, `runtimeConfig.ips[${i}]`)));

  const ranges: RangeSet[] = [];
  const ipRanges = member(rc, 'ipRanges');
  if (ipRanges !== undefined && ipRanges !== null) {
    asArray(ipRanges, 'runtimeConfig.ipRanges').forEach((x, i) => ranges.push(parseRangeSet(x, `runtimeConfig.ipRanges[${i}]`)));
  }
  // The old single-range form (subnet/rangeStart/rangeEnd/gateway directly in ipam) comes before `ranges`.
  if (ipam.subnet !== undefined && ipam.subnet !== null && ipam.subnet !== '') ranges.push([parseRange(ipam, 'ipam')]);
  if (ipam.ranges !== undefined && ipam.ranges !== null) {
    asArray(ipam.ranges, 'ipam.ranges').forEach((x, i) => ranges.push(parseRangeSet(x, `ipam.ranges[${i}]`)));
  }
  if (ranges.length === 0) throw invalidConfig('ipam.ranges', 'no IP ranges specified');
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      if (ranges[i].some((a) => ranges[j].some((b) => overlaps(a, b)))) throw invalidConfig(`ipam.ranges[${j}]`, `range set ${i} overlaps with ${j}`);
    }
  }

  const routes: Route[] = [];
  if (ipam.routes !== undefined && ipam.routes !== null) asArray(ipam.routes, 'ipam.routes').forEach((x, i) => routes.push(parseRoute(x, `ipam.routes[${i}]`)));

  const dataDir = optString(ipam, 'dataDir', 'ipam') || DEFAULT_DATA_DIR;
  if (dataDir.includes('\0')) throw invalidConfig('ipam.dataDir', 'contains a NUL byte');
  const resolvConf = optString(ipam, 'resolvConf', 'ipam') || undefined;

  return { name: conf.name, cniVersion: conf.cniVersion, ranges, routes, dataDir, resolvConf, requestedIPs: requested };
}
