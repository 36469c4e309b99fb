/**
 * `kubectl berth status [NODE]`: per node, the runtime kubelet uses, the Berth stack's version and berthd's
 * health, the handlers and where each stands, and the node's migration, from the Node, BerthNode and
 * NodeMigration objects (no node is contacted). Pure rows from the objects; the reads are the caller's.
 */
import type { BerthNode, NodeMigration } from '../agent';

export interface NodeStatus {
  readonly node: string;
  /** kubelet's runtime as the Node reports it (status.nodeInfo.containerRuntimeVersion), e.g. berth://0.1.0. */
  readonly runtime: string;
  readonly stackVersion: string;
  readonly berthdHealthy: boolean | undefined;
  readonly handlers: readonly { readonly handler: string; readonly phase: string; readonly generation: number }[];
  readonly migration?: { readonly name: string; readonly phase: string };
}

export function nodeStatuses(nodes: readonly { name: string; runtime: string }[], berthNodes: readonly BerthNode[], migrations: readonly NodeMigration[]): NodeStatus[] {
  const bn = new Map(berthNodes.map((b) => [b.metadata.name, b]));
  // The newest migration of each node (a node may have been migrated, rolled back and migrated again).
  const latest = new Map<string, NodeMigration>();
  for (const m of migrations) {
    const seen = latest.get(m.spec.node);
    if (!seen || (m.metadata.creationTimestamp ?? '') > (seen.metadata.creationTimestamp ?? '')) latest.set(m.spec.node, m);
  }
  return [...nodes].sort((a, b) => (a.name < b.name ? -1 : 1)).map((n) => {
    const st = bn.get(n.name)?.status;
    const m = latest.get(n.name);
    return {
      node: n.name, runtime: n.runtime, stackVersion: st?.stackVersion ?? '', berthdHealthy: st?.berthd.healthy,
      handlers: (st?.handlers ?? []).map((h) => ({ handler: h.handler, phase: h.phase, generation: h.generation })),
      ...(m ? { migration: { name: m.metadata.name, phase: m.status?.phase ?? 'Pending' } } : {}),
    };
  });
}

/** kubectl-style table rows (header first). */
export function statusTable(rows: readonly NodeStatus[]): string[][] {
  return [
    ['NODE', 'RUNTIME', 'BERTH', 'BERTHD', 'HANDLERS', 'MIGRATION'],
    ...rows.map((r) => [
      r.node, r.runtime || '<unknown>', r.stackVersion || '<none>', r.berthdHealthy === undefined ? '<none>' : r.berthdHealthy ? 'healthy' : 'unhealthy',
      r.handlers.length ? r.handlers.map((h) => `${h.handler}=${h.phase}`).join(',') : '<none>',
      r.migration ? `${r.migration.name} (${r.migration.phase})` : '<none>',
    ]),
  ];
}
