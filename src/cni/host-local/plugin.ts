/**
 * berth-host-local: the host-local IPAM plugin (ADD / DEL / CHECK / STATUS / GC), compatible on disk with the
 * reference plugin. Used as an executable (src/bin/berth-host-local.ts) and in-process, both through
 * runPlugin.
 */
import * as fs from 'node:fs';
import { BerthError } from '../../common/errors';
import { invalidConfig, notAvailable } from '../pkg/errors';
import { formatIP, ipEqual, parseCIDR, type IP } from '../pkg/ip';
import { lockName, withDirLock } from '../pkg/lock';
import type { CmdArgs, PluginHandlers } from '../pkg/skel';
import type { DNS, IPConfig, Result } from '../pkg/types';
import { Allocator } from './allocator';
import { loadHostLocalConfig, rangeFor, type HostLocalConfig } from './config';
import { DiskStore } from './store';

/** resolv.conf → DNS (nameserver, domain, search, options lines), as the reference plugin reads it. */
export function parseResolvConf(text: string): DNS {
  const dns: DNS = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) (dns.nameservers ??= []).push(rest[0]);
    else if (key === 'domain' && rest[0]) dns.domain = rest[0];
    else if (key === 'search') dns.search = [...(dns.search ?? []), ...rest];
    else if (key === 'options') dns.options = [...(dns.options ?? []), ...rest];
  }
  return dns;
}

function readDNS(cfg: HostLocalConfig): DNS {
  if (!cfg.resolvConf) return {};
  let text: string;
  try {
    text = fs.readFileSync(cfg.resolvConf, 'utf8');
  } catch (err) {
    throw invalidConfig('ipam.resolvConf', `cannot read ${cfg.resolvConf}: ${(err as Error).message}`);
  }
  return parseResolvConf(text);
}

function load(args: CmdArgs): { cfg: HostLocalConfig; store: DiskStore } {
  const cfg = loadHostLocalConfig(args.conf, args.args);
  return { cfg, store: new DiskStore(cfg.dataDir, cfg.name) };
}

async function add(args: CmdArgs): Promise<Result> {
  const { cfg, store } = load(args);
  const dns = readDNS(cfg);
  return withDirLock(store.dir, () => {
    const ips: IPConfig[] = [];
    const pending = [...cfg.requestedIPs];
    const rollback = () => store.releaseByID(args.containerId, args.ifname);
    for (let idx = 0; idx < cfg.ranges.length; idx++) {
      const set = cfg.ranges[idx];
      const at = pending.findIndex((ip) => rangeFor(set, ip));
      const requested: IP | undefined = at >= 0 ? pending.splice(at, 1)[0] : undefined;
      try {
        const got = new Allocator(set, store, idx).get(args.containerId, args.ifname, requested);
        ips.push({ address: `${formatIP(got.ip)}/${got.prefix}`, gateway: formatIP(got.gateway) });
      } catch (err) {
        if (ips.length > 0) rollback();
        if (err instanceof BerthError) throw new BerthError(err.kind, `failed to allocate for range ${idx}: ${err.message}`, { cause: err });
        throw err;
      }
    }
    if (pending.length > 0) {
      rollback();
      throw new BerthError('FailedPrecondition', `failed to allocate all requested IPs: ${pending.map(formatIP).join(' ')}`);
    }
    const result: Result = { cniVersion: cfg.cniVersion, ips, dns };
    if (cfg.routes.length > 0) result.routes = cfg.routes;
    return result;
  });
}

async function del(args: CmdArgs): Promise<void> {
  const { cfg, store } = load(args);
  // Once per range set, as the reference does: with two or more sets, the second pass also frees id-only
  // files of old versions after the exact matches are gone; the on-disk outcome stays identical.
  await withDirLock(store.dir, () => cfg.ranges.forEach(() => store.releaseByID(args.containerId, args.ifname)));
}

async function check(args: CmdArgs): Promise<void> {
  const { cfg, store } = load(args);
  await withDirLock(store.dir, () => {
    const held = store.getByID(args.containerId, args.ifname);
    if (held.length === 0) throw new BerthError('FailedPrecondition', `host-local: Failed to find address added by container ${args.containerId}`);
    // Every address of prevResult that is ours (inside one of our range sets) must still be reserved for it.
    for (const c of args.conf.prevResult?.ips ?? []) {
      const ip = parseCIDR(c.address)?.ip;
      if (!ip || !cfg.ranges.some((set) => rangeFor(set, ip))) continue;
      if (!held.some((h) => ipEqual(h, ip))) {
        throw new BerthError('FailedPrecondition', `host-local: address ${formatIP(ip)} of prevResult is not reserved for container ${args.containerId} interface ${args.ifname}`);
      }
    }
  });
}

async function status(args: CmdArgs): Promise<void> {
  let store: DiskStore;
  try {
    store = load(args).store;
    store.writable();
    lockName(store.dir);
  } catch (err) {
    if (err instanceof BerthError && err.kind === 'InvalidArgument') throw err;
    throw notAvailable(`host-local: data directory unusable: ${(err as Error).message}`);
  }
}

async function gc(args: CmdArgs): Promise<void> {
  const { store } = load(args);
  await withDirLock(store.dir, () => store.gc(args.conf.validAttachments ?? []));
}

export const hostLocal: PluginHandlers = { name: 'host-local', add, del, check, status, gc };
