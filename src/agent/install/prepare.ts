/**
 * Putting the stack on the node and keeping it there, once per agent start: berthd's config (its cgroup driver
 * kubelet's), Berth's CNI network where the node has none, the stack version switched in with the way back
 * kept, and berthd running what `current` is, healthy over CRI.
 *
 * A berthd that runs without any stack of ours (`/opt/berth/current` missing: an install by other means,
 * hack/cluster's) and reports the agent's own version is adopted as it is: its process and config are its
 * owner's and stay untouched; the agent only adds handlers to its runtimes.d. One of another version goes
 * through the switch like any upgrade.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../common/atomic';
import type { Logger, LogLevel } from '../../common/log';
import { checkBerthd, waitHealthy } from '../service/health';
import type { BerthdService } from '../service/types';
import { ensureCni, type CniResult, type CniSettings } from './cni';
import { writeBerthdConfig } from './config';
import { readKubeletCgroupDriver } from './kubelet-cgroup';
import type { Layout } from './layout';
import { currentVersion, installStack, rolloutStack, switchCurrent } from './stack';

/** Marks a node whose berthd the agent adopted without taking it over (see the header). */
const FOREIGN_BERTHD = '.foreign-berthd';

export interface PrepareOptions {
  readonly layout: Layout;
  readonly version: string;
  /** The stack to install (bin/, lib/). */
  readonly sourceDir: string;
  readonly service: BerthdService;
  readonly cni: CniSettings;
  readonly berthdLogLevel?: LogLevel;
  readonly log: Logger;
  /** How long berthd may take to become healthy after a (re)start; default 60 s. */
  readonly healthTimeoutMs?: number;
}

export interface PrepareResult {
  /** adopted: a foreign berthd of our version, left alone; installed: ours, as wanted; rolledBack/unhealthy: see message. */
  readonly outcome: 'adopted' | 'installed' | 'rolledBack' | 'unhealthy';
  readonly current: string;
  readonly healthy: boolean;
  readonly message: string;
  readonly cni?: CniResult;
}

export async function prepareNode(o: PrepareOptions): Promise<PrepareResult> {
  const { layout, log } = o;
  const socket = layout.agent.socket;
  const running = await checkBerthd(socket, 2000);
  const foreignMark = path.join(layout.agent.stacks, FOREIGN_BERTHD);
  const foreign = currentVersion(layout) === undefined || fs.existsSync(foreignMark);
  if (foreign && running.answered && running.version === o.version) {
    // The stack's files still go in place (berth-run for handlers, the CNI plugins), berthd stays as it is.
    installStack(layout, o.version, o.sourceDir);
    switchCurrent(layout, o.version);
    writeFileAtomic(foreignMark, `berthd ${running.version} at ${socket} was running when the agent came; it is left to its owner\n`, 0o644);
    log.info('berthd adopted as it runs', { version: running.version, socket });
    return { outcome: 'adopted', current: running.version, healthy: running.healthy, message: `berthd ${running.version} was running already; left as it is` };
  }
  fs.rmSync(foreignMark, { force: true });
  const cgroup = readKubeletCgroupDriver(layout);
  const config = writeBerthdConfig(layout, { cgroupDriver: cgroup.driver, logLevel: o.berthdLogLevel });
  if (config.changed) log.info("berthd's config written", { file: config.file, cgroupDriver: cgroup.driver, cgroupDriverFrom: cgroup.source });
  const cni = ensureCni(layout, o.cni);
  if (cni.changed) log.info('CNI network', { installed: cni.installed, reason: cni.reason });
  const timeout = o.healthTimeoutMs ?? 60_000;
  const rollout = await rolloutStack({
    layout, version: o.version, sourceDir: o.sourceDir,
    apply: async () => {
      const r = await o.service.ensure();
      log.info('berthd', { action: r.action, pid: r.pid, reason: r.reason });
    },
    healthy: async () => waitHealthy(socket, timeout),
  });
  if (!rollout.switched) {
    // The same version as before: berthd restarts only if its config changed (ensure judges).
    const r = await o.service.ensure();
    if (r.action !== 'running') log.info('berthd', { action: r.action, pid: r.pid, reason: r.reason });
    const h = await waitHealthy(socket, timeout);
    return { outcome: h.healthy ? 'installed' : 'unhealthy', current: rollout.current, healthy: h.healthy, message: h.message, cni };
  }
  log.info(rollout.rolledBack ? 'stack switched back' : 'stack switched', { current: rollout.current, message: rollout.message, pruned: rollout.pruned });
  return { outcome: rollout.rolledBack ? 'rolledBack' : rollout.healthy ? 'installed' : 'unhealthy', current: rollout.current, healthy: rollout.healthy, message: rollout.message, cni };
}
