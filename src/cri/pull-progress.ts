/**
 * berth.v1.PullProgress: pull events fanned out to the clients watching a pull id (berthctl's progress).
 * Nothing is buffered: a watcher sees the events published after it subscribed.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../common/log';
import type { PullProgressEvent, WatchPullRequest } from './types';

type Watcher = (e: PullProgressEvent | 'end') => void;

export class PullProgressHub {
  private readonly watchers = new Map<string, Set<Watcher>>();

  publish(pullId: string, e: PullProgressEvent | 'end'): void {
    for (const w of this.watchers.get(pullId) ?? []) w(e);
  }

  subscribe(pullId: string, w: Watcher): () => void {
    let set = this.watchers.get(pullId);
    if (!set) this.watchers.set(pullId, (set = new Set()));
    set.add(w);
    return () => {
      set!.delete(w);
      if (set!.size === 0) this.watchers.delete(pullId);
    };
  }

  /** Ends every stream (shutdown). */
  endAll(): void {
    for (const id of [...this.watchers.keys()]) this.publish(id, 'end');
  }
}

export function pullProgressService(log: Logger, hub: PullProgressHub): grpc.UntypedServiceImplementation {
  const Watch: grpc.handleServerStreamingCall<WatchPullRequest, PullProgressEvent> = (call) => {
    const id = call.request.pullId;
    if (!id) {
      call.destroy(Object.assign(new Error('pullId: required'), { code: 3 }));
      return;
    }
    log.debug('rpc', { method: 'PullProgress.Watch', pullId: id });
    const unsubscribe = hub.subscribe(id, (e) => {
      if (e === 'end') {
        unsubscribe();
        call.end();
      } else call.write(e);
    });
    call.on('cancelled', unsubscribe);
    call.on('close', unsubscribe);
  };
  return { Watch };
}
