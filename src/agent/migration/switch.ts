/**
 * The switch and its way back, on the node. Switch: carry the registries into berthd, stop kubelet, back up
 * and rewrite every file that sets its runtime endpoint (migrate/endpoint-rewrite.ts, migrate/backup.ts, each
 * backup recorded in the status before its file is touched), point kubeadm's cri-socket annotation at berthd
 * where the node has one, start kubelet. Restore: stop kubelet, put every backed-up file back byte for byte,
 * berthd's pods removed (kubelet starts them again on its runtime), the annotation as the restored files say,
 * start kubelet. Both are safe to repeat: a second run finds its
 * edits made (nothing to rewrite) or its files restored, and only stops and starts kubelet again.
 */
import type { MigrationBackup, NodeMigration } from '../api/migration-types';
import type { NodeState } from '../api/kube-objects';
import { applyEdits, restoreBackups } from '../migrate/backup';
import { readKubeletEndpoint, readKubeletEndpointSources } from '../migrate/endpoint-read';
import { endpointEdits, type FileEdit } from '../migrate/endpoint-rewrite';
import { kubeletConfigPath } from '../install/kubelet-cgroup';
import { runtimeOf } from '../node/kubelet';
import { KUBELET_UNIT } from '../node/host-units';
import { backupDir, berthdEndpoint, type MigrationContext } from './context';
import { removeBerthdPods } from './berthd-pods';
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
}

export async function switchRuntime(c: MigrationContext, m: NodeMigration, node: NodeState, record: (b: MigrationBackup) => Promise<void>): Promise<SwitchReport> {
  const from = runtimeOf(readKubeletEndpoint(c.host, { procRoot: c.procRoot }).endpoint || 'containerd.sock');
  const registries = readCarriedRegistries(c, from);
  await carryRegistries(c, registries);
  const edits = pendingEdits(c);
  await c.units('stop', KUBELET_UNIT);
  await applyEdits(c.host, backupDir(c, m.metadata.uid ?? m.metadata.name), edits, m.status?.backups ?? [], record);
  await annotate(c, node, berthdEndpoint(c));
  await c.units('start', KUBELET_UNIT);
  c.log.info('kubelet switched to berthd', { files: edits.map((e) => e.file), carried: registries.carried, notCarried: registries.notCarried });
  return { carried: registries.carried, notCarried: registries.notCarried };
}

export async function restoreRuntime(c: MigrationContext, m: NodeMigration, node: NodeState): Promise<void> {
  const backups = m.status?.backups ?? [];
  await c.units('stop', KUBELET_UNIT);
  if (backups.length > 0) {
    // berthd down runs no pods: the restore goes on (kubelet's runtime is what matters now).
    const removed = await removeBerthdPods(c.layout.agent.socket).catch((err: Error) => {
      c.log.warn("cannot remove berthd's pods before the rollback", { error: err.message });
      return 0;
    });
    if (removed) c.log.info("berthd's pods removed: kubelet starts them again on its runtime", { pods: removed });
  }
  restoreBackups(c.host, backupDir(c, m.metadata.uid ?? m.metadata.name), backups);
  const endpoint = readKubeletEndpoint(c.host, { procRoot: c.procRoot }).endpoint;
  if (endpoint) await annotate(c, node, endpoint);
  await c.units('start', KUBELET_UNIT);
  c.log.info('kubelet restored to its runtime', { files: backups.map((b) => b.path), endpoint });
}
