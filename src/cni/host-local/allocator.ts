/**
 * Address allocation from one range set, in the reference plugin's order: round-robin starting after the
 * range set's last reserved address (or at the first range's rangeStart), through the ranges in order,
 * wrapping once, skipping each range's gateway. A crash-looping container thus does not get the same address
 * back until the whole set has been used.
 */
import { BerthError } from '../../common/errors';
import { formatIP, ipEqual, nextIP, type IP } from '../pkg/ip';
import { rangeFor, rangeSetToString, type RangeSet } from './config';
import type { DiskStore } from './store';

export interface Allocated {
  ip: IP;
  prefix: number;
  gateway: IP;
}

/** Candidate addresses in allocation order (each once), with their range's prefix and gateway. */
export function* candidates(set: RangeSet, lastReserved: IP | undefined): Generator<Allocated> {
  let idx = 0;
  let cur: IP | undefined;
  const start = lastReserved && rangeFor(set, lastReserved) ? lastReserved : undefined;
  if (start) {
    idx = set.findIndex((r) => rangeFor([r], start));
    cur = start;
  }
  let first: IP | undefined;
  for (;;) {
    let r = set[idx];
    if (cur === undefined) {
      cur = r.rangeStart;
    } else if (ipEqual(cur, r.rangeEnd)) {
      idx = (idx + 1) % set.length;
      r = set[idx];
      cur = r.rangeStart;
    } else {
      cur = nextIP(cur);
    }
    if (first === undefined) first = cur;
    else if (ipEqual(cur, first)) return;
    if (ipEqual(cur, r.gateway)) continue;
    yield { ip: cur, prefix: r.subnet.prefix, gateway: r.gateway };
  }
}

export class Allocator {
  constructor(
    private readonly set: RangeSet,
    private readonly store: DiskStore,
    private readonly rangeIdx: number,
  ) {}

  /** Allocates an address (the requested one when given) for (containerId, ifname). */
  get(containerId: string, ifname: string, requested?: IP): Allocated {
    if (requested) {
      const r = rangeFor(this.set, requested);
      if (!r) throw new BerthError('FailedPrecondition', `${formatIP(requested)} not in range set ${rangeSetToString(this.set)}`);
      if (ipEqual(requested, r.gateway)) throw new BerthError('FailedPrecondition', `requested ip ${formatIP(requested)} is subnet's gateway`);
      if (!this.store.reserve(containerId, ifname, requested, this.rangeIdx)) {
        throw new BerthError('AlreadyExists', `requested IP address ${formatIP(requested)} is not available in range set ${rangeSetToString(this.set)}`);
      }
      return { ip: requested, prefix: r.subnet.prefix, gateway: r.gateway };
    }
    // The spec forbids a second ADD for the same attachment without a DEL.
    for (const ip of this.store.getByID(containerId, ifname)) {
      if (rangeFor(this.set, ip)) throw new BerthError('AlreadyExists', `${formatIP(ip)} has been allocated to ${containerId}, duplicate allocation is not allowed`);
    }
    for (const c of candidates(this.set, this.store.lastReservedIP(this.rangeIdx))) {
      if (this.store.reserve(containerId, ifname, c.ip, this.rangeIdx)) return c;
    }
    throw new BerthError('ResourceExhausted', `no IP addresses available in range set: ${rangeSetToString(this.set)}`);
  }
}
