/**
 * Carries out reconcileNode's actions in order (reconcile/actions.ts has the rules): node-local ones through the
 * NodeSide, the Node's labels and the BerthNode through the API. A failure is recorded for the reconciler's
 * backoff and skips the rest of that handler's actions.
 */
import type { Logger } from '../common/log';
import { API_VERSION, GROUP, VERSION, type CanaryResult, type RuntimeHandler } from './api/types';
import { berthNodeStatusJson } from './api/validate';
import { ApiError, type KubeClient } from './kube/client';
import type { NodeSide } from './node-side';
import type { NodeAction, OperationFailure } from './reconcile';

export interface NodeActionDeps {
  kube: KubeClient;
  nodeName: string;
  nodeUid: string | undefined;
  node: NodeSide;
  log: Logger;
  berthNodeExists: boolean;
  runtimeHandlers: readonly RuntimeHandler[];
  canary(handler: string, generation: number, result: CanaryResult): void;
  forgetCanary(handler: string): void;
  failed(f: OperationFailure): void;
  succeeded(handler: string): void;
}

const handlerOf = (a: NodeAction): string | undefined => ('handler' in a ? a.handler : undefined);

export class NodeActions {
  private berthNodeExists: boolean;

  constructor(private readonly d: NodeActionDeps) {
    this.berthNodeExists = d.berthNodeExists;
  }

  async run(actions: readonly NodeAction[]): Promise<{ ran: number; failed: number }> {
    const skip = new Set<string>();
    let ran = 0;
    let failed = 0;
    for (const a of actions) {
      const handler = handlerOf(a);
      if (handler !== undefined && skip.has(handler)) continue;
      try {
        await this.one(a);
        ran++;
      } catch (err) {
        failed++;
        const message = (err as Error).message;
        this.d.log.warn('node action failed', { action: a.kind, handler, error: message });
        if (handler !== undefined) {
          skip.add(handler);
          if (a.kind === 'configureHandler' || a.kind === 'unconfigureHandler') {
            this.d.failed({ handler, operation: a.kind === 'configureHandler' ? 'configure' : 'unconfigure', generation: a.kind === 'configureHandler' ? a.generation : 0, message, time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') });
          }
        }
      }
    }
    return { ran, failed };
  }

  private async one(a: NodeAction): Promise<void> {
    const { kube, nodeName, log } = this.d;
    switch (a.kind) {
      case 'configureHandler':
        await this.d.node.configure(a);
        this.d.forgetCanary(a.handler);
        this.d.succeeded(a.handler);
        log.info('handler configured', { handler: a.handler, runtimeHandler: a.runtimeHandler, generation: a.generation, runtime: a.runtime.type });
        return;
      case 'unconfigureHandler':
        await this.d.node.unconfigure(a.handler);
        this.d.forgetCanary(a.handler);
        this.d.succeeded(a.handler);
        log.info('handler removed', { handler: a.handler });
        return;
      case 'runCanary': {
        const owner = this.d.runtimeHandlers.find((rh) => rh.spec.handler === a.handler);
        const result = await this.d.node.canary(a, owner);
        this.d.canary(a.handler, a.generation, result);
        (result.passed ? log.info : log.warn).call(log, result.passed ? 'canary passed' : 'canary failed', { handler: a.handler, generation: a.generation, message: result.message });
        return;
      }
      case 'setNodeLabel':
      case 'removeNodeLabel':
        await kube.request('PATCH', `/api/v1/nodes/${nodeName}`, { body: { metadata: { labels: { [a.key]: a.kind === 'setNodeLabel' ? a.value : null } } } });
        return;
      case 'writeBerthNodeStatus': {
        const base = `/apis/${GROUP}/${VERSION}/berthnodes`;
        if (!this.berthNodeExists) {
          try {
            // Owned by its Node: deleting the node deletes its BerthNode.
            const owner = this.d.nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: this.d.nodeUid }] } : {};
            await kube.request('POST', base, { body: { apiVersion: API_VERSION, kind: 'BerthNode', metadata: { name: nodeName, ...owner } } });
          } catch (err) {
            if (!(err instanceof ApiError && err.status === 409)) throw err;
          }
          this.berthNodeExists = true;
        }
        // JSON patch "add" replaces the whole status (a merge patch would keep fields the new status drops).
        await kube.request('PATCH', `${base}/${nodeName}/status`, { patch: 'json', body: [{ op: 'add', path: '/status', value: berthNodeStatusJson(a.status) }] });
        return;
      }
    }
  }
}
