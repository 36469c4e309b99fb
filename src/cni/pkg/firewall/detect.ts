/**
 * Which firewall the host uses. Rules must go where the host's other rules are: if the legacy x_tables
 * are in use (a table registered in /proc/net/ip_tables_names, or `iptables` is the legacy binary), iptables;
 * otherwise nftables when `nft` is installed (an iptables-nft host is an nftables host), else iptables.
 * Decided from files only, no exec: this runs on every ADD and DEL.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../../common/errors';
import type { Backend } from './types';

const SBIN = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin'];

export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d), ...SBIN];
  for (const d of dirs) {
    const f = path.join(d, name);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return f;
    } catch {
      // not here
    }
  }
  return undefined;
}

let cached: Backend | undefined;

export function detectBackend(): Backend {
  if (cached) return cached;
  let legacyTables = '';
  try {
    legacyTables = fs.readFileSync('/proc/net/ip_tables_names', 'utf8').trim();
  } catch {
    // x_tables not loaded: nothing legacy in use
  }
  const iptables = findTool('iptables');
  let iptablesIsLegacy = false;
  if (iptables) {
    try {
      iptablesIsLegacy = /legacy/.test(fs.realpathSync(iptables));
    } catch {
      // dangling alternative: treat as absent
    }
  }
  if (legacyTables !== '' || iptablesIsLegacy) cached = 'iptables';
  else if (findTool('nft')) cached = 'nftables';
  else if (iptables) cached = 'iptables';
  else throw new BerthError('FailedPrecondition', 'neither nft nor iptables is installed');
  return cached;
}

export function requireTool(name: string): string {
  const f = findTool(name);
  if (!f) throw new BerthError('FailedPrecondition', `${name} is not installed`);
  return f;
}
