/**
 * Carries out reconcileCluster's actions (the leader's): finalizers on RuntimeHandlers, the RuntimeClasses,
 * the RuntimeHandlers' status. Writes that depend on what was read carry its resourceVersion, so a change
 * made meanwhile fails the write (409) and the next pass decides again on fresh state.
 */
import type { Logger } from '../common/log';
import { FINALIZER, GROUP, OWNER_LABEL, VERSION, type RuntimeClass, type RuntimeHandler } from './api/types';
import { runtimeClassJson, runtimeHandlerStatusJson } from './api/validate';
import type { KubeClient } from './kube/client';
import type { WatchCache } from './kube/watch-cache';
import type { ClusterAction } from './reconcile';

export interface ClusterActionDeps {
  kube: KubeClient;
  log: Logger;
  runtimeHandlers: WatchCache<RuntimeHandler>;
  runtimeClasses: WatchCache<RuntimeClass>;
}

const RH = `/apis/${GROUP}/${VERSION}/runtimehandlers`;
const RC = '/apis/node.k8s.io/v1/runtimeclasses';

export class ClusterActions {
  constructor(private readonly d: ClusterActionDeps) {}

  async run(actions: readonly ClusterAction[]): Promise<{ ran: number; failed: number }> {
    let ran = 0;
    let failed = 0;
    for (const a of actions) {
      try {
        await this.one(a);
        ran++;
      } catch (err) {
        failed++;
        this.d.log.warn('cluster action failed', { action: a.kind, name: 'name' in a ? a.name : a.body.metadata.name, error: (err as Error).message });
      }
    }
    return { ran, failed };
  }

  private finalizers(name: string, change: (list: string[]) => string[]): { metadata: { finalizers: string[]; resourceVersion?: string } } {
    const rh = this.d.runtimeHandlers.get(name);
    return { metadata: { finalizers: change([...(rh?.metadata.finalizers ?? [])]), resourceVersion: rh?.metadata.resourceVersion } };
  }

  private async one(a: ClusterAction): Promise<void> {
    const { kube, log } = this.d;
    switch (a.kind) {
      case 'addFinalizer':
        await kube.request('PATCH', `${RH}/${a.name}`, { body: this.finalizers(a.name, (l) => (l.includes(FINALIZER) ? l : [...l, FINALIZER])) });
        return;
      case 'removeFinalizer':
        await kube.request('PATCH', `${RH}/${a.name}`, { body: this.finalizers(a.name, (l) => l.filter((f) => f !== FINALIZER)) });
        log.info('RuntimeHandler cleaned up everywhere; finalizer removed', { runtimeHandler: a.name });
        return;
      case 'createRuntimeClass':
        await kube.request('POST', RC, { body: runtimeClassJson(a.body) });
        log.info('RuntimeClass created', { runtimeClass: a.body.metadata.name, handler: a.body.handler });
        return;
      case 'updateRuntimeClass': {
        // A merge patch: fields the body lacks are removed (null), other labels stay.
        const body = runtimeClassJson(a.body);
        await kube.request('PATCH', `${RC}/${a.name}`, {
          body: {
            metadata: { labels: { [OWNER_LABEL]: a.body.metadata.labels?.[OWNER_LABEL] ?? null }, ...(a.resourceVersion ? { resourceVersion: a.resourceVersion } : {}) },
            handler: body.handler, overhead: body.overhead ?? null, scheduling: body.scheduling ?? null,
          },
        });
        log.info('RuntimeClass updated', { runtimeClass: a.name });
        return;
      }
      case 'deleteRuntimeClass':
        await kube.request('DELETE', `${RC}/${a.name}`);
        log.info('RuntimeClass deleted', { runtimeClass: a.name });
        return;
      case 'writeRuntimeHandlerStatus':
        // JSON patch "add" replaces the whole status (a merge patch would keep fields the new status drops).
        await kube.request('PATCH', `${RH}/${a.name}/status`, { patch: 'json', body: [{ op: 'add', path: '/status', value: runtimeHandlerStatusJson(a.status) }] });
        return;
    }
  }
}
