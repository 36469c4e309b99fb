/**
 * One HTTP(S) exchange with a registry endpoint: TLS from the endpoint's settings (CA added to the system roots,
 * client certificate, verification off only when insecure), redirects followed (Authorization dropped when the
 * host changes), bounded retries with exponential backoff on 429/5xx and on connections cut, and errors that say
 * what went wrong (TLS verification, refused, timed out) as BerthErrors.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { BerthError } from '../../common/errors';
import type { Logger } from '../../common/log';
import type { Endpoint } from './config';

export interface RetryOptions {
  /** Attempts after the first one, for 429/5xx and cut connections. Default 4. */
  retries?: number;
  /** First backoff; doubles each attempt, with jitter. Default 200 ms. */
  backoffMs?: number;
  /** Cap for one backoff (and for Retry-After). Default 5 s. */
  maxBackoffMs?: number;
  /** Idle socket timeout. Default 30 s. */
  timeoutMs?: number;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST';
  url: URL;
  headers?: Record<string, string>;
  body?: Buffer;
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE', 'CERT_REVOKED', 'INVALID_CA',
]);
const RETRYABLE_NET = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/** Marks an HTTPS attempt that reached something that does not speak TLS (so plain HTTP may be tried). */
export class NotTlsError extends BerthError {
  constructor(url: string, cause: unknown) {
    super('Unavailable', `${url}: server does not speak TLS (${(cause as Error).message})`, { cause });
  }
}

export function isRetryableNetError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return (code !== undefined && RETRYABLE_NET.has(code)) || /socket hang up|aborted/i.test((err as Error)?.message ?? '');
}

export class Transport {
  private readonly agents = new Map<string, http.Agent>();
  readonly retries: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly timeoutMs: number;

  constructor(options: RetryOptions = {}, private readonly log?: Logger, private readonly userAgent = 'berth/0.1') {
    this.retries = options.retries ?? 4;
    this.backoffMs = options.backoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.timeoutMs = options.timeoutMs ?? 30000;
  }

  /** Agent for a URL: the endpoint's TLS settings when the URL is on the endpoint's host, system defaults otherwise. */
  private agentFor(url: URL, ep: Endpoint | undefined): http.Agent {
    const own = ep !== undefined && url.host === ep.host;
    if (url.protocol === 'http:') {
      let a = this.agents.get('http');
      if (!a) this.agents.set('http', (a = new http.Agent({ keepAlive: true, maxSockets: 16 })));
      return a;
    }
    const key = own ? `https|${ep!.host}|${ep!.skipVerify}|${ep!.ca ?? ''}|${ep!.cert ?? ''}` : 'https';
    let a = this.agents.get(key);
    if (!a) {
      const opts: https.AgentOptions = { keepAlive: true, maxSockets: 16 };
      if (own) {
        opts.rejectUnauthorized = !ep!.skipVerify;
        if (ep!.ca) opts.ca = [...tls.rootCertificates, readPem(ep!.ca, `registries.${ep!.host}.ca`)];
        if (ep!.cert && ep!.key) {
          opts.cert = readPem(ep!.cert, `registries.${ep!.host}.cert`);
          opts.key = readPem(ep!.key, `registries.${ep!.host}.key`);
        }
      }
      this.agents.set(key, (a = new https.Agent(opts)));
    }
    return a;
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  /** One request, no retries, no redirects. Rejects with BerthError on transport failures. */
  once(req: HttpRequest, ep: Endpoint | undefined, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const url = req.url;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const r = mod.request(url, {
        method: req.method, agent: this.agentFor(url, ep), signal,
        headers: { 'user-agent': this.userAgent, ...req.headers, ...(req.body ? { 'content-length': String(req.body.length) } : {}) },
      }, resolve);
      r.setTimeout(this.timeoutMs, () => r.destroy(Object.assign(new Error(`${url.origin}: no response for ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      r.on('error', (err) => reject(this.describe(err, url, ep)));
      r.end(req.body);
    });
  }

  /** Turns socket/TLS errors into clear BerthErrors (retryable ones keep their code). */
  describe(err: unknown, url: URL, ep: Endpoint | undefined): unknown {
    if (err instanceof BerthError) return err;
    const e = err as NodeJS.ErrnoException;
    const host = ep?.host ?? url.host;
    if (e.code !== undefined && TLS_VERIFY_CODES.has(e.code)) {
      return new BerthError('Unavailable', `TLS certificate verification failed for ${url.origin}: ${e.code}: ${e.message}; set registries."${host}".ca to the CA that signed it (or insecure: true)`, { cause: err });
    }
    if (url.protocol === 'https:' && (e.code === 'EPROTO' || /wrong version number|packet length too long|unknown protocol/i.test(e.message ?? ''))) {
      return new NotTlsError(url.origin, err);
    }
    if (url.protocol === 'https:' && (e.code?.startsWith('ERR_SSL_') || /alert|handshake/i.test(e.message ?? ''))) {
      return new BerthError('Unavailable', `TLS handshake with ${url.origin} failed: ${e.code ?? ''} ${e.message.trim()}; if the registry requires a client certificate, set registries."${host}".cert and .key`, { cause: err });
    }
    if (e.code === 'ECONNREFUSED') return new BerthError('Unavailable', `${url.origin}: connection refused`, { cause: err });
    if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return new BerthError('Unavailable', `${url.host}: host not found (${e.code})`, { cause: err });
    if (e.name === 'AbortError') return err;
    return err;
  }

  backoff(attempt: number, retryAfter?: string | string[]): number {
    let ms = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
    ms = ms / 2 + Math.random() * (ms / 2);
    const ra = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
    if (ra !== undefined) {
      const secs = Number(ra);
      const at = Number.isFinite(secs) ? secs * 1000 : Date.parse(ra) - Date.now();
      if (Number.isFinite(at) && at > 0) ms = Math.min(this.maxBackoffMs, Math.max(ms, at));
    }
    return ms;
  }

  /**
   * A request with redirects followed (at most 10) and retries on 429/5xx and cut connections. The final
   * response is returned whatever its status (the caller interprets 4xx); a retried 5xx that never recovers is
   * returned as is, too.
   */
  async send(req: HttpRequest, ep: Endpoint | undefined, signal?: AbortSignal): Promise<http.IncomingMessage> {
    for (let attempt = 0; ; attempt++) {
      let res: http.IncomingMessage;
      try {
        res = await this.follow(req, ep, signal);
      } catch (err) {
        if (attempt < this.retries && isRetryableNetError(err) && !signal?.aborted) {
          const ms = this.backoff(attempt);
          this.log?.debug('registry request failed, retrying', { url: req.url.href, error: (err as Error).message, attempt, delayMs: Math.round(ms) });
          await sleep(ms, signal);
          continue;
        }
        throw err;
      }
      const s = res.statusCode ?? 0;
      if ((s === 429 || (s >= 500 && s !== 501 && s !== 505)) && attempt < this.retries) {
        const ms = this.backoff(attempt, res.headers['retry-after']);
        res.resume();
        this.log?.debug('registry answered with a retryable status', { url: req.url.href, status: s, attempt, delayMs: Math.round(ms) });
        await sleep(ms, signal);
        continue;
      }
      return res;
    }
  }

  private async follow(req: HttpRequest, ep: Endpoint | undefined, signal?: AbortSignal): Promise<http.IncomingMessage> {
    let current = req;
    for (let hops = 0; hops <= 10; hops++) {
      const res = await this.once(current, ep, signal);
      const s = res.statusCode ?? 0;
      const loc = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(s) || !loc) return res;
      res.resume();
      const next = new URL(loc, current.url);
      const headers = { ...current.headers };
      if (next.host !== current.url.host) delete headers.authorization;
      if (ep && next.protocol === 'http:' && current.url.protocol === 'https:' && !ep.schemes.includes('http')) {
        throw new BerthError('PermissionDenied', `${current.url.href} redirected to plain HTTP (${next.href}); refused because ${ep.host} is not configured insecure`);
      }
      current = { ...current, url: next, headers, method: s === 303 ? 'GET' : current.method };
    }
    throw new BerthError('Unavailable', `${req.url.href}: too many redirects`);
  }
}

/** Reads a whole response body, failing once it exceeds `limit` bytes. */
export function readBody(res: http.IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.destroy();
    return Promise.reject(new BerthError('ResourceExhausted', `${what}: ${declared} bytes is over the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        reject(new BerthError('ResourceExhausted', `${what}: over the limit of ${limit} bytes`));
        res.destroy();
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('aborted', () => reject(Object.assign(new Error(`${what}: connection cut while reading`), { code: 'ECONNRESET' })));
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function readPem(file: string, field: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new BerthError('InvalidArgument', `cannot read ${file}: ${(err as Error).message}`, { field, cause: err });
  }
}
