/**
 * The switch and its way back, on the node. Switch: carry the registries into berthd, stop kubelet, remove the
 * pods the old runtime still runs (DaemonSet and static pods: kubelet starts them on berthd), stop the old
 * runtime's units when asked (spec.stopOldRuntime), back up and rewrite every file that sets kubelet's runtime
 * endpoint (migrate/endpoint-rewrite.ts, migrate/backup.ts, each backup recorded in the status before its file is
 * touched), point kubeadm's cri-socket annotation at berthd where the node has one, start kubelet. Restore: stop
 * kubelet, remove berthd's pods (kubelet starts them again on its runtime), put every backed-up file back byte
 * for byte, set the annotation as the restored files say, start the old runtime's units if the switch stopped
 * them, start kubelet. Both are safe to repeat: a second run finds its edits made (nothing to rewrite) or its
 * files restored, and only stops and starts kubelet again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../common/atomic';
import type { MigrationBackup, NodeMigration } from '../api/migration-types';
import type { NodeState } from '../api/kube-objects';
import { applyEdits, restoreBackups } from '../migrate/backup';
import { readKubeletEndpoint, readKubeletEndpointSources } from '../migrate/endpoint-read';
import { endpointEdits, type FileEdit } from '../migrate/endpoint-rewrite';
import { KUBELET_DEFAULT_RUNTIME_ENDPOINT } from '../migrate/endpoint';
import { kubeletConfigPath } from '../install/kubelet-cgroup';
import { runtimeOf, socketOf } from '../node/kubelet';
import { KUBELET_UNIT, runtimeUnits } from '../node/host-units';
import { backupDir, berthdEndpoint, type MigrationContext } from './context';
import { removePods } from './runtime-pods';
import { carryRegistries, readCarriedRegistries } from './registries';

export const CRI_SOCKET_ANNOTATION = 'kubeadm.alpha.kubernetes.io/cri-socket';

/** The edits that would point kubelet at berthd now ([] once they are made). */
export function pendingEdits(c: MigrationContext): FileEdit[] {
  const sources = readKubeletEndpointSources(c.host, { procRoot: c.procRoot });
  const texts = new Map<string, string>();
  for (const f of [...sources.flagFiles, sources.config, ...(sources.configDropIns ?? []), sources.instanceConfig]) if (f) texts.set(f.file, f.text);
  const located = readKubeletEndpoint(c.host, { procRoot: c.procRoot });
  return endpointEdits(located, texts, berthdEndpoint(c), sources.config?.file ?? kubeletConfigPath(sources.flagFiles));
}

async function annotate(c: MigrationContext, node: NodeState, endpoint: string): Promise<void> {
  const now = node.metadata.annotations?.[CRI_SOCKET_ANNOTATION];
  if (now === undefined || now === endpoint) return;
  await c.kube.request('PATCH', `/api/v1/nodes/${c.nodeName}`, { body: { metadata: { annotations: { [CRI_SOCKET_ANNOTATION]: endpoint } } } });
}

/** What the switch carried and could not, for the step's message. */
export interface SwitchReport {
  readonly carried: readonly string[];
  readonly notCarried: readonly string[];
  /** The units of the old runtime stopped (spec.stopOldRuntime). */
  readonly stopped: readonly string[];
}

/** The pods a runtime still runs, removed with kubelet stopped; a runtime that does not answer has none to hand over. */
async function handOverPods(c: MigrationContext, socket: string, runtime: string): Promise<void> {
  const removed = await removePods(socket).catch((err: Error) => {
    c.log.warn(`cannot remove ${runtime}'s pods: kubelet starts them on its new runtime anyway`, { error: err.message });
    return 0;
  });
  if (removed) c.log.info(`${runtime}'s pods removed: kubelet starts them again on its new runtime`, { pods: removed });
}

/**
 * kubelet's endpoint before the switch, kept beside the backups on its first try: a repeat (the agent killed
 * mid-switch) may find kubelet on berthd already, and must still hand over and stop the same runtime.
 */
function endpointBefore(c: MigrationContext, dir: string): string {
  const file = path.join(dir, 'endpoint-before');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    // First try.
  }
  const endpoint = readKubeletEndpoint(c.host, { procRoot: c.procRoot }).endpoint || KUBELET_DEFAULT_RUNTIME_ENDPOINT;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(file, `${endpoint}\n`, 0o600);
  return endpoint;
}

export async function switchRuntime(c: MigrationContext, m: NodeMigration, node: NodeState, record: (b: MigrationBackup) => Promise<void>): Promise<SwitchReport> {
  const dir = backupDir(c, m.metadata.uid ?? m.metadata.name);
  const endpoint = endpointBefore(c, dir);
  const from = runtimeOf(endpoint);
  const registries = readCarriedRegistries(c, from);
  await carryRegistries(c, registries);
  const edits = pendingEdits(c);
  await c.units('stop', KUBELET_UNIT);
  // A node on berthd already (the migration of a migrated node) has nothing to hand over.
  const stopped: string[] = [];
  if (from !== 'berthd') {
    await handOverPods(c, socketOf(endpoint, c.host), from);
    if (m.spec.stopOldRuntime) {
      for (const u of runtimeUnits(from)) {
        await c.units('stop', u);
        stopped.push(u);
      }
    }
  }
  await applyEdits(c.host, dir, edits, m.status?.backups ?? [], record);
  await annotate(c, node, berthdEndpoint(c));
  await c.units('start', KUBELET_UNIT);
  c.log.info('kubelet switched to berthd', { from, files: edits.map((e) => e.file), carried: registries.carried, notCarried: registries.notCarried, stopped });
  return { carried: registries.carried, notCarried: registries.notCarried, stopped };
}

export async function restoreRuntime(c: MigrationContext, m: NodeMigration, node: NodeState): Promise<void> {
  const backups = m.status?.backups ?? [];
  await c.units('stop', KUBELET_UNIT);
  // berthd down runs no pods: the restore goes on (kubelet's runtime is what matters now).
  if (backups.length > 0) await handOverPods(c, c.layout.agent.socket, 'berthd');
  restoreBackups(c.host, backupDir(c, m.metadata.uid ?? m.metadata.name), backups);
  const endpoint = readKubeletEndpoint(c.host, { procRoot: c.procRoot }).endpoint;
  if (endpoint) await annotate(c, node, endpoint);
  // The runtime the switch stopped comes back before kubelet needs it (a start of a running unit does nothing).
  if (m.spec.stopOldRuntime && backups.length > 0) for (const u of [...runtimeUnits(runtimeOf(endpoint || KUBELET_DEFAULT_RUNTIME_ENDPOINT))].reverse()) await c.units('start', u);
  await c.units('start', KUBELET_UNIT);
  c.log.info('kubelet restored to its runtime', { files: backups.map((b) => b.path), endpoint });
}
