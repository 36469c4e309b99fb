/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules: the holder renews every
 * `renewSeconds`; another candidate takes the lease only once it has not been renewed for
 * `leaseDurationSeconds`; every write carries the resourceVersion it read, so two candidates can never both
 * win. A leader that cannot renew in time stops leading before its lease could be taken.
 *
 * Unlike client-go, candidates do not poll the Lease: they watch it (one object, by name) and try to take it
 * only when the watch shows it missing, released or run out. At rest, then, the only requests are the
 * holder's renewals: one agent's, not one per node.
 */
import type { Logger } from '../../common/log';
import { ApiError, type Json, type KubeClient } from './client';
import { WatchCache } from './watch-cache';

export interface LeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewSeconds?: number;
  log: Logger;
  onChange(leading: boolean): void;
}

/** The microsecond RFC 3339 time the Lease fields hold (MicroTime). */
const microTime = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

const specOf = (lease: Json | undefined): Json => (lease?.spec ?? {}) as Json;

/** When a lease held by someone else runs out (ms since the epoch); 0 when nobody holds it. */
export function leaseExpiry(lease: Json | undefined, identity: string, defaultDurationSeconds: number): number {
  const spec = specOf(lease);
  const holder = typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '';
  if (!holder || holder === identity) return 0;
  const renewed = Date.parse(String(spec.renewTime ?? spec.acquireTime ?? '')) || 0;
  return renewed + Number(spec.leaseDurationSeconds ?? defaultDurationSeconds) * 1000;
}

export class LeaderElection {
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private busy = false;
  private ticking: Promise<void> | undefined;
  private lastRenew = 0;
  /** The Lease as last written by us or seen on the watch, whichever came last (a stale copy costs one 409). */
  private latest: Json | undefined;
  private readonly duration: number;
  private readonly renew: number;
  private readonly watched: WatchCache<Json>;

  constructor(private readonly client: KubeClient, private readonly o: LeaseOptions) {
    this.duration = o.leaseDurationSeconds ?? 15;
    this.renew = o.renewSeconds ?? 5;
    this.watched = new WatchCache<Json>(client, {
      path: `/apis/coordination.k8s.io/v1/namespaces/${o.namespace}/leases`, fieldSelector: `metadata.name=${o.name}`,
      parse: (obj) => obj as Json, log: o.log, onChange: () => this.seen(),
    });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.watched.start().then(() => this.tick());
  }

  /** Stops; a leader gives the lease up at once (holder cleared), so the next one need not wait it out. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watched.stop();
    // A renewal in flight would otherwise land after the release (and make it a stale write).
    await this.ticking;
    if (!this.leading) return;
    this.set(false);
    try {
      const lease = this.latest;
      const spec = specOf(lease);
      if (lease && spec.holderIdentity === this.o.identity) {
        await this.client.request('PUT', this.path(), { body: { ...lease, spec: { ...spec, holderIdentity: '', leaseDurationSeconds: 1 } } });
      }
    } catch (err) {
      this.o.log.warn('cannot release the lease', { error: (err as Error).message });
    }
  }

  private path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases/${this.o.name}`;
  }

  /** The Lease as it is now, read the way it is watched (a list by name: the RBAC grants no get). */
  private async read(): Promise<Json | undefined> {
    const list = await this.client.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`, { query: { fieldSelector: `metadata.name=${this.o.name}` } });
    return Array.isArray(list?.items) ? (list.items as Json[])[0] : undefined;
  }

  private set(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.o.log.info(leading ? 'leading: doing the cluster-wide work' : 'not leading', { lease: `${this.o.namespace}/${this.o.name}` });
    this.o.onChange(leading);
  }

  /** The watch changed: a candidate looks again (the lease may be gone or released); a leader that sees another holder stops. */
  private seen(): void {
    this.latest = this.watched.get(this.o.name);
    if (this.stopped) return;
    if (this.leading && leaseExpiry(this.latest, this.o.identity, this.duration) > Date.now()) this.set(false);
    if (!this.leading && !this.busy) this.later(0);
  }

  private later(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private tick(): Promise<void> {
    if (this.stopped || this.busy) return Promise.resolve();
    this.ticking = this.tickOnce();
    return this.ticking;
  }

  private async tickOnce(): Promise<void> {
    this.busy = true;
    try {
      const expiry = leaseExpiry(this.latest, this.o.identity, this.duration);
      // Someone else holds a live lease: nothing to do until it runs out (or the watch shows a change).
      if (!this.leading && expiry > Date.now()) {
        this.later(expiry - Date.now() + Math.random() * 1000);
        return;
      }
      try {
        const won = await this.tryAcquireOrRenew();
        if (this.stopped) return;
        this.set(won);
      } catch (err) {
        this.o.log.warn('lease', { error: (err as Error).message });
        // Without a renewal the lease may be taken once it runs out: stop leading before that.
        if (this.leading && Date.now() - this.lastRenew > (this.duration - this.renew) * 1000) this.set(false);
      }
      if (this.stopped) return;
      if (this.leading) this.later(this.renew * 1000);
      else {
        const next = leaseExpiry(this.latest, this.o.identity, this.duration);
        // Lost a race or met an error: wait for the lease to run out, or retry after a renewal period.
        this.later(next > Date.now() ? next - Date.now() + Math.random() * 1000 : (this.renew / 2 + Math.random() * this.renew) * 1000);
      }
    } finally {
      this.busy = false;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const lease = this.latest;
    const mine = { holderIdentity: this.o.identity, leaseDurationSeconds: this.duration, renewTime: microTime(now) };
    if (!lease) {
      try {
        this.latest = (await this.client.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`, {
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.o.name, namespace: this.o.namespace }, spec: { ...mine, acquireTime: microTime(now), leaseTransitions: 0 } },
        }));
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) return false; // someone else created it first; the watch brings it
        throw err;
      }
      this.lastRenew = Date.now();
      return true;
    }
    const spec = specOf(lease);
    const holder = typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '';
    if (leaseExpiry(lease, this.o.identity, this.duration) > now.getTime()) return false;
    const transitions = Number(spec.leaseTransitions ?? 0) + (holder === this.o.identity ? 0 : 1);
    const next = { ...spec, ...mine, leaseTransitions: transitions, ...(holder === this.o.identity ? {} : { acquireTime: microTime(now) }) };
    try {
      // The resourceVersion of the copy we hold makes this a compare-and-swap.
      this.latest = await this.client.request('PUT', this.path(), { body: { ...lease, spec: next } });
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        // Our copy was stale: read the current one for the next try. A leader stays one while it still holds the
        // lease and its last renewal is recent enough that nobody could have taken it.
        this.latest = await this.read();
        return this.leading && specOf(this.latest).holderIdentity === this.o.identity && Date.now() - this.lastRenew < (this.duration - this.renew) * 1000;
      }
      throw err;
    }
    this.lastRenew = Date.now();
    return true;
  }
}
