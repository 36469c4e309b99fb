/**
 * Taking the stack off a node (the chart's delete): berthd stopped (its shim and any containers stay, as with
 * a restart), then what the agent wrote: the handler drop-ins it marked, Berth's CNI network if it was ours,
 * berthd's config if the agent wrote it, the systemd unit, the stack versions and their links. Files the node
 * had of its own stay. A node whose kubelet runs on berthd is refused: removing its CRI would strand every pod
 * on it; migrating the node back (issue 09) comes first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import type { Logger } from '../../common/log';
import type { BerthdService } from '../service/types';
import { UNIT_NAME } from '../service/systemd';
import { MARK as DROPIN_MARK } from '../node/berthd-handlers';
import { ensureCni } from './cni';
import { CONFIG_MARK } from './config';
import type { Layout } from './layout';

export interface UninstallOptions {
  readonly layout: Layout;
  readonly service: BerthdService;
  /** kubelet's CRI endpoint on this node ('' if none). */
  readonly kubeletEndpoint: string;
  /** Takes Berth's handlers out of the node's own CRI (containerd), before anything else goes. */
  readonly removeCriHandlers: () => Promise<void>;
  readonly log: Logger;
}

const startsWith = (file: string, mark: string): boolean => {
  try {
    return fs.readFileSync(file, 'utf8').startsWith(mark);
  } catch {
    return false;
  }
};

export async function uninstallNode(o: UninstallOptions): Promise<string[]> {
  const { layout, log } = o;
  const socket = layout.daemon.socket;
  if (o.kubeletEndpoint.replace(/^unix:\/\//, '') === socket || o.kubeletEndpoint.replace(/^unix:\/\//, '') === layout.agent.socket) {
    throw new BerthError('FailedPrecondition', `kubelet on this node uses berthd (${o.kubeletEndpoint}): migrate the node back to its previous runtime first`);
  }
  // First, so that no CRI is left advertising a handler whose runtime binary is about to go.
  await o.removeCriHandlers();
  const removed: string[] = [];
  const rm = (p: string): void => {
    if (!fs.existsSync(p) && !isLink(p)) return;
    fs.rmSync(p, { recursive: true, force: true });
    removed.push(p);
  };
  await o.service.stop();
  log.info('berthd stopped');
  try {
    for (const name of fs.readdirSync(layout.agent.runtimesDir)) {
      const file = path.join(layout.agent.runtimesDir, name);
      if (startsWith(file, DROPIN_MARK)) rm(file);
    }
    if (fs.readdirSync(layout.agent.runtimesDir).length === 0) rm(layout.agent.runtimesDir);
  } catch {
    // no runtimes.d: nothing of ours there
  }
  if (ensureCni(layout, { mode: 'never' }).changed) removed.push(path.join(layout.agent.cniConfDir, '(Berth network)'));
  if (startsWith(layout.agent.config, CONFIG_MARK)) rm(layout.agent.config);
  rm(path.join(layout.agent.systemdUnitDir, UNIT_NAME));
  rm(layout.agent.stacks);
  log.info('uninstalled', { removed });
  return removed;
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
