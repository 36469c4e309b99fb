/**
 * Berth's CNI network on a node: `/etc/cni/net.d/10-berth.conflist` (berth-bridge with berth-host-local IPAM,
 * then berth-portmap) and the plugins in `/opt/cni/bin`, installed only where the node has no CNI config of
 * its own, or when the settings say so. berthd runs Berth's plugins in-process; the binaries in /opt/cni/bin
 * are for other runtimes on the node (containerd before a migration).
 *
 * The plugins are links to `/opt/berth/current/bin/<plugin>`, not copies: the bundled plugins are scripts that
 * load `../lib/<plugin>.js` relative to their real path, and a link follows `current` through upgrades.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BerthError, invalid } from '../../common/errors';
import { writeIfChanged } from './config';
import { CURRENT_LINK, type Layout } from './layout';

export type CniMode = 'auto' | 'always' | 'never';
export const CNI_MODES: readonly CniMode[] = ['auto', 'always', 'never'];

export const CONFLIST_NAME = '10-berth.conflist';
/** The network name of our conflist: what tells it from another file of the same name (hack/cluster writes one). */
const NETWORK_NAME = 'berth';
export const CNI_PLUGINS = ['berth-bridge', 'berth-host-local', 'berth-portmap'] as const;

export interface CniSettings {
  readonly mode: CniMode;
  /** Default `berth0`; agents side by side on one machine need one each. */
  readonly bridge?: string;
  /** The pods' IPv4 subnet on this node (its podCIDR); default 10.88.0.0/16. */
  readonly subnet?: string;
}

/** Config files libcni would load (the extensions it reads). */
const CNI_CONFIG = /\.(conflist|conf|json)$/;

export function validateCniSettings(s: CniSettings, field = 'cni'): CniSettings {
  if (!CNI_MODES.includes(s.mode)) throw invalid(`${field}.mode`, `must be one of ${CNI_MODES.join(', ')}, got ${JSON.stringify(s.mode)}`);
  if (s.bridge !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(s.bridge)) throw invalid(`${field}.bridge`, 'must be a link name of 1 to 15 characters');
  if (s.subnet !== undefined && !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(s.subnet)) throw invalid(`${field}.subnet`, `must be an IPv4 CIDR such as 10.88.0.0/16, got ${JSON.stringify(s.subnet)}`);
  return s;
}

/** Pure: the conflist's text, with the daemons' view of the IPAM dir. */
export function renderConflist(layout: Layout, s: CniSettings): string {
  const doc = {
    cniVersion: '1.0.0',
    name: NETWORK_NAME,
    plugins: [
      {
        type: 'berth-bridge', bridge: s.bridge ?? 'berth0', isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true,
        ipam: { type: 'berth-host-local', dataDir: layout.daemon.cniIpamDir, ranges: [[{ subnet: s.subnet ?? '10.88.0.0/16' }]] },
      },
      { type: 'berth-portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Our conflist is on the node: the file of our name, holding our network (not someone else's file of that name). */
function oursInstalled(layout: Layout): boolean {
  try {
    const doc = JSON.parse(fs.readFileSync(path.join(layout.agent.cniConfDir, CONFLIST_NAME), 'utf8')) as { name?: unknown };
    return doc.name === NETWORK_NAME;
  } catch {
    return false;
  }
}

/** CNI configs on the node that are not ours. */
export function foreignCniConfigs(layout: Layout): string[] {
  const ours = oursInstalled(layout);
  try {
    return fs.readdirSync(layout.agent.cniConfDir).filter((n) => CNI_CONFIG.test(n) && !(ours && n === CONFLIST_NAME) && !n.startsWith('.')).sort();
  } catch {
    return [];
  }
}

export interface CniResult {
  /** Our conflist is on the node after this call. */
  readonly installed: boolean;
  /** Anything was written or removed. */
  readonly changed: boolean;
  /** Why (e.g. `the node has its own CNI config: 10-flannel.conflist`). */
  readonly reason: string;
}

/** `link` → `target`, replaced atomically unless it points there already; true when changed. */
function ensureLink(link: string, target: string): boolean {
  try {
    if (fs.readlinkSync(link) === target) return false;
  } catch {
    // missing, or not a link: replaced below
  }
  const tmp = path.join(path.dirname(link), `.${path.basename(link)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, link);
  return true;
}

function removeOurs(layout: Layout): boolean {
  let changed = false;
  if (oursInstalled(layout)) {
    fs.rmSync(path.join(layout.agent.cniConfDir, CONFLIST_NAME), { force: true });
    changed = true;
  }
  for (const p of CNI_PLUGINS) {
    const link = path.join(layout.agent.cniBinDir, p);
    try {
      // Only our links: a plugin binary someone else put there stays.
      if (fs.readlinkSync(link).startsWith(path.join(layout.daemon.stacks, CURRENT_LINK))) {
        fs.rmSync(link, { force: true });
        changed = true;
      }
    } catch {
      // not there, or not a link
    }
  }
  return changed;
}

/**
 * auto: install ours when the node has no CNI config, keep ours when it is the only one, and leave the network
 * alone (ours too, as it is) when the node has another; always: install ours whatever else is there; never:
 * remove ours if we had installed it.
 */
export function ensureCni(layout: Layout, settings: CniSettings): CniResult {
  const s = validateCniSettings(settings);
  if (s.mode === 'never') {
    const changed = removeOurs(layout);
    return { installed: false, changed, reason: 'cni: never' };
  }
  const foreign = foreignCniConfigs(layout);
  if (s.mode === 'auto' && foreign.length > 0) {
    return { installed: oursInstalled(layout), changed: false, reason: `the node has its own CNI config: ${foreign.join(', ')}` };
  }
  if (!oursInstalled(layout) && fs.existsSync(path.join(layout.agent.cniConfDir, CONFLIST_NAME))) {
    // always, over a file of our name that is not ours: replacing it would take someone's network away unseen.
    throw new BerthError('FailedPrecondition', `${path.join(layout.agent.cniConfDir, CONFLIST_NAME)} is not Berth's (its network is not "${NETWORK_NAME}"): rename or remove it to let the agent install Berth's network`);
  }
  fs.mkdirSync(layout.agent.cniBinDir, { recursive: true, mode: 0o755 });
  let changed = false;
  for (const p of CNI_PLUGINS) changed = ensureLink(path.join(layout.agent.cniBinDir, p), path.join(layout.daemon.stacks, CURRENT_LINK, 'bin', p)) || changed;
  changed = writeIfChanged(path.join(layout.agent.cniConfDir, CONFLIST_NAME), renderConflist(layout, s)).changed || changed;
  return { installed: true, changed, reason: s.mode === 'always' ? 'cni: always' : 'the node had no CNI config' };
}
