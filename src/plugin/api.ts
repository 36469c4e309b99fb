/**
 * The few API requests the plugin makes, over KubeClient: the commands take this interface, not the client,
 * and every request RBAC may refuse is explained (kube-errors.ts). NodeMigrations are parsed once, here.
 */
import { KubeClient, parseNodeMigration, type NodeMigration } from '../agent';
import type { MigrationSettings } from './flags';
import { apiCall } from './kube-errors';

export interface NodeInfo {
  readonly name: string;
  /** status.nodeInfo.containerRuntimeVersion, e.g. containerd://2.1.0 or berth://0.1.0. */
  readonly runtime: string;
}

export interface PluginApi {
  getNode(name: string): Promise<NodeInfo | undefined>;
  listNodes(labelSelector: string): Promise<NodeInfo[]>;
  getMigration(name: string): Promise<NodeMigration | undefined>;
  createMigration(name: string, node: string, settings: MigrationSettings): Promise<NodeMigration>;
  requestRollback(name: string): Promise<NodeMigration>;
  /** Deleting one that is gone already is no error. */
  deleteMigration(name: string): Promise<void>;
}

const NM = '/apis/berth.dev/v1alpha1/nodemigrations';
const NM_RESOURCE = 'nodemigrations.berth.dev';

function nodeInfo(v: unknown): NodeInfo {
  const n = v as { metadata?: { name?: string }; status?: { nodeInfo?: { containerRuntimeVersion?: string } } } | undefined;
  return { name: n?.metadata?.name ?? '', runtime: n?.status?.nodeInfo?.containerRuntimeVersion ?? '' };
}

export function kubeApi(kube: KubeClient): PluginApi {
  return {
    getNode: (name) => apiCall('get', 'nodes', async () => {
      const n = await kube.find(`/api/v1/nodes/${encodeURIComponent(name)}`);
      return n ? nodeInfo(n) : undefined;
    }),
    listNodes: (labelSelector) => apiCall('list', 'nodes', async () => {
      const body = await kube.request('GET', '/api/v1/nodes', { query: { labelSelector } });
      return (Array.isArray(body?.items) ? body.items : []).map(nodeInfo);
    }),
    getMigration: (name) => apiCall('get', NM_RESOURCE, async () => {
      const m = await kube.find(`${NM}/${encodeURIComponent(name)}`);
      return m ? parseNodeMigration(m) : undefined;
    }),
    createMigration: (name, node, s) => apiCall('create', NM_RESOURCE, async () => parseNodeMigration(await kube.request('POST', NM, {
      body: { apiVersion: 'berth.dev/v1alpha1', kind: 'NodeMigration', metadata: { name }, spec: { node, ...s } },
    }))),
    requestRollback: (name) => apiCall('patch', NM_RESOURCE, async () => parseNodeMigration(await kube.request('PATCH', `${NM}/${encodeURIComponent(name)}`, {
      body: { spec: { rollback: true } }, patch: 'merge',
    }))),
    deleteMigration: (name) => apiCall('delete', NM_RESOURCE, async () => {
      try {
        await kube.request('DELETE', `${NM}/${encodeURIComponent(name)}`);
      } catch (err) {
        if ((err as { status?: unknown }).status !== 404) throw err;
      }
    }),
  };
}

/** A list for `status`, with refusals explained the same way. */
export async function listItems(kube: KubeClient, path: string, resource: string): Promise<unknown[]> {
  return apiCall('list', resource, async () => {
    const body = await kube.get(path);
    return Array.isArray(body?.items) ? (body.items as unknown[]) : [];
  });
}
