/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: the holder renews
 * every `renewSeconds`; another candidate takes the lease only once it has not been renewed for
 * `leaseDurationSeconds`; every write carries the resourceVersion it read, so two candidates can never both
 * win. A leader that cannot renew in time stops leading before its lease could be taken.
 */
import type { Logger } from '../../common/log';
import { ApiError, type Json, type KubeClient } from './client';

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

export class LeaderElection {
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastRenew = 0;
  private readonly duration: number;
  private readonly renew: number;

  constructor(private readonly client: KubeClient, private readonly o: LeaseOptions) {
    this.duration = o.leaseDurationSeconds ?? 15;
    this.renew = o.renewSeconds ?? 5;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Stops; a leader gives the lease up at once (holder cleared), so the next one need not wait it out. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.set(false);
    try {
      const lease = await this.client.get(this.path());
      const spec = (lease?.spec ?? {}) as Json;
      if (spec.holderIdentity === this.o.identity) {
        await this.client.request('PUT', this.path(), { body: { ...lease, spec: { ...spec, holderIdentity: '', leaseDurationSeconds: 1 } } });
      }
    } catch (err) {
      this.o.log.warn('cannot release the lease', { error: (err as Error).message });
    }
  }

  private path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases/${this.o.name}`;
  }

  private set(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.o.log.info(leading ? 'leading: doing the cluster-wide work' : 'not leading', { lease: `${this.o.namespace}/${this.o.name}` });
    this.o.onChange(leading);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      this.set(await this.tryAcquireOrRenew());
    } catch (err) {
      this.o.log.warn('lease', { error: (err as Error).message });
      // Without a renewal the lease may be taken once it runs out: stop leading before that.
      if (this.leading && Date.now() - this.lastRenew > (this.duration - this.renew) * 1000) this.set(false);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), (this.leading ? this.renew : this.renew / 2 + Math.random() * this.renew) * 1000);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const lease = await this.client.find(this.path());
    const mine = { holderIdentity: this.o.identity, leaseDurationSeconds: this.duration, renewTime: microTime(now) };
    if (!lease) {
      try {
        await this.client.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`, {
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.o.name, namespace: this.o.namespace }, spec: { ...mine, acquireTime: microTime(now), leaseTransitions: 0 } },
        });
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) return false; // someone else created it first
        throw err;
      }
      this.lastRenew = Date.now();
      return true;
    }
    const spec = (lease.spec ?? {}) as Json;
    const holder = typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '';
    const renewed = Date.parse(String(spec.renewTime ?? spec.acquireTime ?? '')) || 0;
    const held = Number(spec.leaseDurationSeconds ?? this.duration) * 1000;
    if (holder && holder !== this.o.identity && now.getTime() - renewed < held) return false;
    const transitions = Number(spec.leaseTransitions ?? 0) + (holder === this.o.identity ? 0 : 1);
    const next = { ...spec, ...mine, leaseTransitions: transitions, ...(holder === this.o.identity ? {} : { acquireTime: microTime(now) }) };
    try {
      // The resourceVersion read above makes this a compare-and-swap.
      await this.client.request('PUT', this.path(), { body: { ...lease, spec: next } });
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return false;
      throw err;
    }
    this.lastRenew = Date.now();
    return true;
  }
}
