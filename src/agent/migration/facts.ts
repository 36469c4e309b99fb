/**
 * Gathers what the preflight (migrate/preflight.ts) judges: the pods bound to the node, kubelet's version and
 * where its endpoint and cgroup driver are configured, the free space where berthd keeps images, berthd's
 * health and cgroup driver. Reads only: a dry run and `kubectl berth doctor` run exactly this.
 */
import * as fs from 'node:fs';
import { parse } from 'yaml';
import type { NodeState } from '../api/kube-objects';
import { parseKubeletCgroupDriver } from '../install/kubelet-cgroup';
import { readKubeletEndpoint, readKubeletEndpointSources } from '../migrate/endpoint-read';
import type { CgroupDriverFacts } from '../migrate/node-checks';
import type { PreflightFacts } from '../migrate/preflight';
import { checkBerthd } from '../service/health';
import type { MigrationContext } from './context';

/** The pods bound to the node, as the API has them (the preflight and the drain parse them). */
export async function podsOnNode(c: MigrationContext): Promise<unknown[]> {
  const body = await c.kube.request('GET', '/api/v1/pods', { query: { fieldSelector: `spec.nodeName=${c.nodeName}` } });
  return Array.isArray(body?.items) ? (body.items as unknown[]) : [];
}

function cgroupDrivers(c: MigrationContext): CgroupDriverFacts {
  const sources = readKubeletEndpointSources(c.host, { procRoot: c.procRoot });
  let kubelet: CgroupDriverFacts['kubelet'] = 'cgroupfs';
  let source = "kubelet's default";
  try {
    const found = parseKubeletCgroupDriver(sources);
    kubelet = found.driver;
    source = found.source;
  } catch (err) {
    source = `unreadable: ${(err as Error).message}`;
  }
  let berthd: CgroupDriverFacts['berthd'];
  try {
    const doc = parse(fs.readFileSync(c.layout.agent.config, 'utf8')) as Record<string, unknown> | null;
    if (doc?.cgroupDriver === 'systemd' || doc?.cgroupDriver === 'cgroupfs') berthd = doc.cgroupDriver;
  } catch {
    // No config yet: berthd is not installed, which the berthd check reports.
  }
  return berthd ? { kubelet, source, berthd } : { kubelet, source };
}

function freeBytes(dir: string): number {
  // The image root may not exist before berthd's first start: its nearest existing parent is the filesystem.
  for (let d = dir; ; d = d.replace(/\/[^/]*$/, '') || '/') {
    try {
      const s = fs.statfsSync(d);
      return s.bavail * s.bsize;
    } catch {
      if (d === '/') return 0;
    }
  }
}

export async function preflightFacts(c: MigrationContext, node: NodeState): Promise<PreflightFacts> {
  const health = await checkBerthd(c.layout.agent.socket, 5000);
  return {
    node: c.nodeName,
    pods: await podsOnNode(c),
    kubeletVersion: node.kubeletVersion,
    endpoint: readKubeletEndpoint(c.host, { procRoot: c.procRoot }),
    cgroupDriver: cgroupDrivers(c),
    imageFs: { path: c.layout.daemon.root, freeBytes: freeBytes(c.layout.agent.root), neededBytes: node.imageBytes },
    berthd: { installed: fs.existsSync(c.layout.agent.config), healthy: health.healthy, version: health.version, message: health.message },
  };
}
