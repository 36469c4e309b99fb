/**
 * An informer: list once, then watch from that resourceVersion, keeping a map of the objects validated into the
 * agent's types. A watch that ends is resumed from the last resourceVersion seen (bookmarks keep it fresh);
 * one the server refuses as too old (410 Gone) starts over with a list. Objects that do not validate are kept
 * apart with their error, so that the reconcilers can report them instead of silently ignoring them.
 * The API is never polled: after the first list, a quiet cluster costs one open watch per cache.
 */
import type { Logger } from '../../common/log';
import type { Json, KubeClient } from './client';

export interface WatchCacheOptions<T> {
  /** Collection path, e.g. /apis/berth.dev/v1alpha1/runtimehandlers. */
  path: string;
  fieldSelector?: string;
  labelSelector?: string;
  parse(obj: unknown): T;
  log: Logger;
  /** Called after every change to the cache (and once after the first list). */
  onChange(): void;
}

export interface InvalidObject {
  name: string;
  raw: Json;
  error: string;
}

const MAX_BACKOFF_MS = 30_000;

export class WatchCache<T> {
  private readonly objects = new Map<string, T>();
  private readonly bad = new Map<string, InvalidObject>();
  private resourceVersion = '';
  private stopWatch: (() => void) | undefined;
  private stopped = false;
  private backoffMs = 1000;
  private timer: NodeJS.Timeout | undefined;
  private firstSync: Promise<void> | undefined;
  // Ends the wait between first-list attempts when the cache is stopped.
  private wake: (() => void) | undefined;

  constructor(private readonly client: KubeClient, private readonly o: WatchCacheOptions<T>) {}

  /**
   * Resolves once the first list is in. A refused first list (an API server still starting, a CRD just
   * registered, a network blip) is retried with backoff until it works or the cache is stopped.
   */
  start(): Promise<void> {
    this.firstSync ??= this.firstList();
    return this.firstSync;
  }

  private async firstList(): Promise<void> {
    for (let delay = 500; !this.stopped; delay = Math.min(delay * 2, MAX_BACKOFF_MS)) {
      try {
        await this.list();
        return;
      } catch (err) {
        this.o.log.warn('cannot list yet, retrying', { path: this.o.path, error: (err as Error).message, retryInSeconds: delay / 1000 });
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, delay);
        });
      }
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    this.stopWatch?.();
    this.stopWatch = undefined;
  }

  items(): T[] {
    return [...this.objects.values()];
  }

  get(name: string): T | undefined {
    return this.objects.get(name);
  }

  invalid(): InvalidObject[] {
    return [...this.bad.values()];
  }

  private selectors(): Record<string, string | undefined> {
    return { fieldSelector: this.o.fieldSelector, labelSelector: this.o.labelSelector };
  }

  private async list(): Promise<void> {
    const body = await this.client.request('GET', this.o.path, { query: this.selectors() });
    const items = Array.isArray(body?.items) ? (body.items as Json[]) : [];
    this.objects.clear();
    this.bad.clear();
    for (const item of items) this.put(item);
    this.resourceVersion = String((body?.metadata as Json | undefined)?.resourceVersion ?? '');
    this.o.onChange();
    void this.watch();
  }

  private put(raw: Json): void {
    const name = String((raw.metadata as Json | undefined)?.name ?? '');
    try {
      this.objects.set(name, this.o.parse(raw));
      this.bad.delete(name);
    } catch (err) {
      this.objects.delete(name);
      const error = (err as Error).message;
      if (this.bad.get(name)?.error !== error) this.o.log.warn('object does not validate', { path: this.o.path, name, error });
      this.bad.set(name, { name, raw, error });
    }
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    let gone = false;
    const opened = Date.now();
    try {
      this.stopWatch = await this.client.watch(this.o.path, {
        ...this.selectors(), resourceVersion: this.resourceVersion, allowWatchBookmarks: true,
        // The server ends each watch after this long; a random spread keeps many agents from resuming at once.
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
      }, {
        event: (type, obj) => {
          const rv = (obj.metadata as Json | undefined)?.resourceVersion;
          if (type === 'ERROR') {
            gone = obj.code === 410;
            return;
          }
          if (typeof rv === 'string') this.resourceVersion = rv;
          if (type === 'BOOKMARK') return;
          this.backoffMs = 1000;
          if (type === 'DELETED') {
            const name = String((obj.metadata as Json | undefined)?.name ?? '');
            this.objects.delete(name);
            this.bad.delete(name);
          } else {
            this.put(obj);
          }
          this.o.onChange();
        },
        done: (err) => {
          this.stopWatch = undefined;
          if (this.stopped) return;
          if (err && !(err instanceof Error && err.name === 'AbortError')) this.o.log.debug('watch ended', { path: this.o.path, error: String(err) });
          // client-node's Watch reports a refused watch as an Error with the HTTP status in statusCode.
          const refused = gone || (err as { statusCode?: number } | null)?.statusCode === 410;
          // A watch the server ended after its timeout is resumed at once; failures, and streams that end as soon
          // as they open, back off.
          if (!err && !refused && Date.now() - opened > 10_000) this.backoffMs = 0;
          this.resume(refused);
        },
      });
    } catch (err) {
      this.o.log.warn('cannot watch', { path: this.o.path, error: (err as Error).message });
      this.resume(false);
    }
  }

  /** Resumes the watch (after a clean end at once, after errors with backoff), or lists again if the version is gone. */
  private resume(relist: boolean): void {
    if (this.stopped) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 1000), MAX_BACKOFF_MS);
    this.timer = setTimeout(() => {
      if (relist) {
        this.list().catch((err: unknown) => {
          this.o.log.warn('cannot list', { path: this.o.path, error: (err as Error).message });
          this.resume(true);
        });
      } else {
        void this.watch();
      }
    }, delay);
  }
}
