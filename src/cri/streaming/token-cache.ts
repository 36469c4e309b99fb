/**
 * One-time tokens for streaming URLs, as the kubelet's request cache: random, URL-safe, consumed by their
 * first use, gone after a minute, and a bounded number in flight (the CRI call fails beyond it rather than
 * letting unused tokens pile up).
 */
import { randomBytes } from 'node:crypto';
import { BerthError } from '../../common/errors';

export const TOKEN_TTL_MS = 60_000;
export const MAX_IN_FLIGHT = 1000;

export interface TokenCacheOptions {
  ttlMs?: number;
  maxInFlight?: number;
  /** For tests: the clock. */
  now?: () => number;
}

export class TokenCache<T> {
  /** Insertion order is expiry order: a Map iterates oldest first. */
  private readonly entries = new Map<string, { value: T; expires: number }>();
  private readonly ttlMs: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;

  constructor(options: TokenCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? TOKEN_TTL_MS;
    this.maxInFlight = options.maxInFlight ?? MAX_IN_FLIGHT;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    this.gc();
    return this.entries.size;
  }

  insert(value: T): string {
    this.gc();
    if (this.entries.size >= this.maxInFlight) throw new BerthError('ResourceExhausted', `maximum number of in-flight streaming requests (${this.maxInFlight}) exceeded`);
    for (;;) {
      // 128 random bits: unguessable, and 22 URL-safe characters.
      const token = randomBytes(16).toString('base64url');
      if (this.entries.has(token)) continue;
      this.entries.set(token, { value, expires: this.now() + this.ttlMs });
      return token;
    }
  }

  /** The value, once: a second use, an unknown or an expired token give undefined. */
  consume(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return this.now() > e.expires ? undefined : e.value;
  }

  clear(): void {
    this.entries.clear();
  }

  private gc(): void {
    const now = this.now();
    for (const [token, e] of this.entries) {
      if (e.expires >= now) return;
      this.entries.delete(token);
    }
  }
}
