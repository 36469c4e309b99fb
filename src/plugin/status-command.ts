/** `kubectl berth status [NODE]`: the reads behind status.ts's rows, and their output. */
import { stringify } from 'yaml';
import { asBerthError, invalid } from '../common/errors';
import { table } from '../common/table';
import { parseBerthNode, parseNodeMigration, type KubeClient } from '../agent';
import { listItems } from './api';
import { nodeStatuses, statusTable } from './status';

export async function status(kube: KubeClient, node: string | undefined, output: string): Promise<string> {
  const [nodes, berthNodes, migrations] = await Promise.all([
    listItems(kube, '/api/v1/nodes', 'nodes'),
    listItems(kube, '/apis/berth.dev/v1alpha1/berthnodes', 'berthnodes.berth.dev'),
    // Before issue 09's CRD is installed there are no migrations to show.
    listItems(kube, '/apis/berth.dev/v1alpha1/nodemigrations', 'nodemigrations.berth.dev').catch((err: unknown) => {
      if (asBerthError(err).kind === 'NotFound') return [];
      throw err;
    }),
  ]);
  const n = (nodes as Array<{ metadata?: { name?: string }; status?: { nodeInfo?: { containerRuntimeVersion?: string } } }>).map((x) => ({
    name: x.metadata?.name ?? '', runtime: x.status?.nodeInfo?.containerRuntimeVersion ?? '',
  }));
  if (node !== undefined && !n.some((x) => x.name === node)) throw invalid('NODE', `no node "${node}"`);
  const rows = nodeStatuses(n.filter((x) => node === undefined || x.name === node), berthNodes.map((b) => parseBerthNode(b)), migrations.map((m) => parseNodeMigration(m)));
  if (output === 'json') return `${JSON.stringify(node === undefined ? rows : rows[0], null, 2)}\n`;
  if (output === 'yaml') return stringify(node === undefined ? rows : rows[0]);
  return table(statusTable(rows), 10, 3);
}
