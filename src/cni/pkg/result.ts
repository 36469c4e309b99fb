/**
 * Results: reading one in any supported version into the internal (1.1.0) form, and writing the internal
 * form in the version a config asks for. Conversions drop what the target cannot express (1.1.0's interface
 * and route attributes going down; 0.4.0's `ips[].version` is derived from the address going down and dropped
 * going up), as libcni's converters do.
 */
import { invalidConfig } from './errors';
import { formatCIDR, formatIP, parseCIDR } from './ip';
import type { DNS, IPConfig, Interface, Result, Route } from './types';
import { asArray, asCIDR, asIP, asObject, join, optInt, optString, optStringArray, reqString, type Json } from './validate';
import { isVersionString, resultFormatOf, type ResultFormat } from './version';

export function parseDNS(v: unknown, field: string): DNS {
  const o = asObject(v, field);
  const dns: DNS = {};
  const nameservers = optStringArray(o, 'nameservers', field);
  nameservers?.forEach((s, i) => asIP(s, join(join(field, 'nameservers'), i)));
  if (nameservers) dns.nameservers = nameservers;
  const domain = optString(o, 'domain', field);
  if (domain) dns.domain = domain;
  const search = optStringArray(o, 'search', field);
  if (search) dns.search = search;
  const options = optStringArray(o, 'options', field);
  if (options) dns.options = options;
  return dns;
}

export function parseRoute(v: unknown, field: string): Route {
  const o = asObject(v, field);
  const dst = reqString(o, 'dst', field);
  const dstNet = asCIDR(dst, join(field, 'dst'));
  // The address is kept as written (host bits included), in canonical text, as Go's types.IPNet does.
  const r: Route = { dst: formatCIDR(dstNet) };
  const gw = optString(o, 'gw', field);
  if (gw !== undefined && gw !== '') {
    const ip = asIP(gw, join(field, 'gw'));
    if (ip.family !== dstNet.ip.family) throw invalidConfig(join(field, 'gw'), `${gw} is not in the address family of dst ${dst}`);
    r.gw = formatIP(ip);
  }
  for (const key of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    const n = optInt(o, key, field, 0);
    if (n !== undefined) r[key] = n;
  }
  return r;
}

function parseInterface(v: unknown, field: string): Interface {
  const o = asObject(v, field);
  const iface: Interface = { name: reqString(o, 'name', field) };
  const mac = optString(o, 'mac', field);
  if (mac) iface.mac = mac;
  const mtu = optInt(o, 'mtu', field, 0);
  if (mtu !== undefined) iface.mtu = mtu;
  const sandbox = optString(o, 'sandbox', field);
  if (sandbox) iface.sandbox = sandbox;
  const socketPath = optString(o, 'socketPath', field);
  if (socketPath) iface.socketPath = socketPath;
  const pciID = optString(o, 'pciID', field);
  if (pciID) iface.pciID = pciID;
  return iface;
}

function parseIPConfig(v: unknown, field: string, format: ResultFormat, interfaces: number): IPConfig {
  const o = asObject(v, field);
  const address = reqString(o, 'address', field);
  const net = asCIDR(address, join(field, 'address'));
  const c: IPConfig = { address };
  if (format === '0.4') {
    const version = reqString(o, 'version', field);
    if (version !== '4' && version !== '6') throw invalidConfig(join(field, 'version'), `must be "4" or "6", not ${JSON.stringify(version)}`);
    if (Number(version) !== net.ip.family) throw invalidConfig(join(field, 'version'), `is ${version} but address ${address} is IPv${net.ip.family}`);
  }
  const idx = optInt(o, 'interface', field, 0);
  if (idx !== undefined) {
    if (idx >= interfaces) throw invalidConfig(join(field, 'interface'), `index ${idx} but there are ${interfaces} interfaces`);
    c.interface = idx;
  }
  const gateway = optString(o, 'gateway', field);
  if (gateway) {
    const gw = asIP(gateway, join(field, 'gateway'));
    if (gw.family !== net.ip.family) throw invalidConfig(join(field, 'gateway'), `${gateway} is not in the address family of ${address}`);
    c.gateway = gateway;
  }
  return c;
}

/** Reads a result (e.g. `prevResult`) written in `version` (the config's cniVersion when absent from it). */
export function parseResult(v: unknown, field: string, version?: string): Result {
  const o = asObject(v, field);
  const declared = o.cniVersion;
  let cniVersion = version;
  if (declared !== undefined) {
    if (!isVersionString(declared)) throw invalidConfig(join(field, 'cniVersion'), `malformed version ${JSON.stringify(declared)}`);
    cniVersion = declared;
  }
  if (!cniVersion) throw invalidConfig(join(field, 'cniVersion'), 'missing (required)');
  const format = resultFormatOf(cniVersion);
  const r: Result = { cniVersion };
  if (o.interfaces !== undefined && o.interfaces !== null) r.interfaces = asArray(o.interfaces, join(field, 'interfaces')).map((x, i) => parseInterface(x, join(join(field, 'interfaces'), i)));
  const n = r.interfaces?.length ?? 0;
  if (o.ips !== undefined && o.ips !== null) r.ips = asArray(o.ips, join(field, 'ips')).map((x, i) => parseIPConfig(x, join(join(field, 'ips'), i), format, n));
  if (o.routes !== undefined && o.routes !== null) r.routes = asArray(o.routes, join(field, 'routes')).map((x, i) => parseRoute(x, join(join(field, 'routes'), i)));
  if (o.dns !== undefined && o.dns !== null) r.dns = parseDNS(o.dns, join(field, 'dns'));
  return r;
}

/** The result as JSON in `version` (key order as the reference plugins print it). */
export function convertResult(result: Result, version: string): Json {
  const format = resultFormatOf(version);
  if (format === '0.2') return legacyResult(result, version);
  const out: Json = { cniVersion: version };
  if (result.interfaces && result.interfaces.length > 0) {
    out.interfaces = result.interfaces.map((i) => {
      const o: Json = { name: i.name };
      if (i.mac) o.mac = i.mac;
      if (format === '1.1' && i.mtu !== undefined) o.mtu = i.mtu;
      if (i.sandbox) o.sandbox = i.sandbox;
      if (format === '1.1' && i.socketPath) o.socketPath = i.socketPath;
      if (format === '1.1' && i.pciID) o.pciID = i.pciID;
      return o;
    });
  }
  if (result.ips && result.ips.length > 0) {
    out.ips = result.ips.map((c) => {
      const o: Json = {};
      if (format === '0.4') o.version = String(parseCIDR(c.address)?.ip.family ?? 4);
      if (c.interface !== undefined) o.interface = c.interface;
      o.address = c.address;
      if (c.gateway) o.gateway = c.gateway;
      return o;
    });
  }
  if (result.routes && result.routes.length > 0) {
    out.routes = result.routes.map((r) => {
      const o: Json = { dst: r.dst };
      if (r.gw) o.gw = r.gw;
      if (format === '1.1') {
        for (const key of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (r[key] !== undefined) o[key] = r[key];
      }
      return o;
    });
  }
  if (result.dns) out.dns = dnsJson(result.dns);
  return out;
}

/** 0.1.0 / 0.2.0: one "ip4" and one "ip6" entry (the first address of each family), routes split by family. */
function legacyResult(result: Result, version: string): Json {
  const out: Json = { cniVersion: version };
  for (const family of [4, 6] as const) {
    const c = result.ips?.find((x) => parseCIDR(x.address)?.ip.family === family);
    if (!c) continue;
    const o: Json = { ip: c.address };
    if (c.gateway) o.gateway = c.gateway;
    const routes = (result.routes ?? []).filter((r) => parseCIDR(r.dst)?.ip.family === family).map((r) => (r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst }));
    if (routes.length > 0) o.routes = routes;
    out[`ip${family}`] = o;
  }
  if (result.dns) out.dns = dnsJson(result.dns);
  return out;
}

function dnsJson(dns: NonNullable<Result['dns']>): Json {
  const d: Json = {};
  if (dns.nameservers?.length) d.nameservers = [...dns.nameservers];
  if (dns.domain) d.domain = dns.domain;
  if (dns.search?.length) d.search = [...dns.search];
  if (dns.options?.length) d.options = [...dns.options];
  return d;
}
