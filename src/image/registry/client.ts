/**
 * The OCI distribution client: `GET /v2/` probe (which also picks HTTPS or, where allowed, plain HTTP), auth
 * (anonymous, Basic, Bearer), manifests with a size limit and digest check, platform selection, and blobs as
 * streams that resume with Range after a cut connection. Mirrors are tried in order, then the upstream.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { BerthError } from '../../common/errors';
import { silentLogger, type Logger } from '../../common/log';
import { readableChunks } from '../../common/readable-chunks';
import { digestOf, parseDigest, verifyBuffer, type Digest } from '../digest';
import type { ImageReference } from '../reference';
import { Authenticator } from './auth';
import { resolveEndpoints, type Endpoint, type RegistriesConfig, type RegistryAuth } from './config';
import { MANIFEST_ACCEPT, parseManifest, selectPlatform, hostPlatform, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from './manifest';
import { NotTlsError, readBody, sleep, isRetryableNetError, Transport, type RetryOptions } from './transport';

export const DEFAULT_MAX_MANIFEST_BYTES = 4 << 20;

export interface RegistryClientOptions extends RetryOptions {
  registries?: RegistriesConfig;
  /** Largest manifest or index accepted. Default 4 MiB. */
  maxManifestBytes?: number;
  logger?: Logger;
  userAgent?: string;
}

export interface FetchedManifest {
  digest: Digest;
  mediaType: string;
  size: number;
  bytes: Buffer;
  /** Endpoint host that served it. */
  from: string;
}

export interface ResolvedImage {
  /** What the reference points at (an index/list for multi-arch images, else the manifest itself). */
  top: FetchedManifest;
  index?: ImageIndex;
  /** The platform-specific image manifest. */
  manifest: FetchedManifest;
  parsed: ImageManifest;
}

export class RegistryClient {
  readonly transport: Transport;
  readonly auth: Authenticator;
  readonly maxManifestBytes: number;
  readonly log: Logger;
  private readonly registries: RegistriesConfig;
  private readonly scheme = new Map<string, Promise<'http' | 'https'>>();

  constructor(options: RegistryClientOptions = {}) {
    this.log = options.logger ?? silentLogger;
    this.transport = new Transport(options, this.log, options.userAgent);
    this.auth = new Authenticator(this.transport);
    this.registries = options.registries ?? {};
    this.maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  }

  close(): void {
    this.transport.close();
  }

  repository(ref: ImageReference, options: { auth?: RegistryAuth } = {}): Repository {
    return new Repository(this, ref, resolveEndpoints(this.registries, ref.domain), options.auth);
  }

  /** `GET /v2/` on an endpoint: picks the scheme, records the auth challenge. Cached per host. */
  ping(ep: Endpoint, signal?: AbortSignal): Promise<'http' | 'https'> {
    let p = this.scheme.get(ep.host);
    if (!p) {
      p = this.doPing(ep, signal);
      this.scheme.set(ep.host, p);
      p.catch(() => this.scheme.delete(ep.host));
    }
    return p;
  }

  private async doPing(ep: Endpoint, signal?: AbortSignal): Promise<'http' | 'https'> {
    let lastErr: unknown;
    for (const scheme of ep.schemes) {
      const url = new URL(`${scheme}://${ep.host}/v2/`);
      let res: IncomingMessage;
      try {
        res = await this.transport.send({ method: 'GET', url }, ep, signal);
      } catch (err) {
        lastErr = err;
        if (err instanceof NotTlsError) continue;
        throw err;
      }
      res.resume();
      const s = res.statusCode ?? 0;
      if (s === 401) this.auth.setChallenge(ep.host, res.headers['www-authenticate']);
      else if (s >= 500 || s === 429) throw new BerthError('Unavailable', `${url.origin}: registry answered ${s} to GET /v2/`);
      this.log.debug('registry probed', { host: ep.host, scheme, status: s });
      return scheme;
    }
    if (lastErr instanceof NotTlsError) {
      throw new BerthError('Unavailable', `${lastErr.message}; plain HTTP is only used when registries."${ep.host}".insecure is true (or for loopback hosts)`, { cause: lastErr });
    }
    throw lastErr;
  }
}

export class Repository {
  /** Index into endpoints of the one that last served a manifest: blobs go there first. */
  private preferred = 0;

  constructor(readonly client: RegistryClient, readonly ref: ImageReference, readonly endpoints: Endpoint[], readonly credentials?: RegistryAuth) {}

  private scope(): string {
    return `repository:${this.ref.path}:pull`;
  }

  private credsFor(ep: Endpoint): RegistryAuth | undefined {
    return this.credentials ?? ep.auth;
  }

  /** An authenticated GET on `ep`; handles the 401 → challenge → retry dance and maps 401/403. */
  async get(ep: Endpoint, path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    const scheme = await this.client.ping(ep, signal);
    const url = new URL(`${scheme}://${ep.host}/v2/${this.ref.path}/${path}`);
    const creds = this.credsFor(ep);
    const auth = this.client.auth;
    let authz = await auth.header(ep, creds, this.scope(), false, signal);
    let res = await this.client.transport.send({ method: 'GET', url, headers: authz ? { ...headers, authorization: authz } : headers }, ep, signal);
    if (res.statusCode === 401) {
      res.resume();
      const hadAuth = authz !== undefined;
      const c = auth.setChallenge(ep.host, res.headers['www-authenticate']);
      if (hadAuth && c?.scheme === 'bearer' && c.params.error === 'insufficient_scope') throw denied(ep, this.ref, creds);
      if (!c) throw new BerthError('Unauthenticated', `${ep.host}: 401 without a WWW-Authenticate challenge for ${this.ref.path}`);
      if (c.scheme === 'basic' && (hadAuth || !creds)) throw unauthenticated(ep, creds, hadAuth);
      authz = await auth.header(ep, creds, this.scope(), true, signal);
      if (!authz) throw unauthenticated(ep, creds, false);
      res = await this.client.transport.send({ method: 'GET', url, headers: { ...headers, authorization: authz } }, ep, signal);
      if (res.statusCode === 401) {
        res.resume();
        const again = auth.setChallenge(ep.host, res.headers['www-authenticate']);
        if (again?.scheme === 'bearer' && (again.params.error === 'insufficient_scope' || creds)) throw denied(ep, this.ref, creds);
        throw unauthenticated(ep, creds, true);
      }
    }
    if (res.statusCode === 403) {
      res.resume();
      throw denied(ep, this.ref, creds);
    }
    return res;
  }

  /** Tries each endpoint, preferred first, then in configured order; the last (upstream) error wins. */
  private async eachEndpoint<T>(fn: (ep: Endpoint) => Promise<T>, what: string): Promise<T> {
    const order = [this.preferred, ...this.endpoints.keys()].filter((v, i, a) => a.indexOf(v) === i);
    const failures: string[] = [];
    let last: unknown;
    for (const i of order) {
      const ep = this.endpoints[i];
      try {
        const v = await fn(ep);
        this.preferred = i;
        return v;
      } catch (err) {
        if ((err as Error)?.name === 'AbortError') throw err;
        last = err;
        failures.push(`${ep.host}: ${(err as Error).message}`);
        this.client.log.debug('registry endpoint failed', { what, host: ep.host, error: (err as Error).message });
      }
    }
    if (failures.length > 1 && last instanceof BerthError) {
      throw new BerthError(last.kind, `${what}: ${last.message} (also tried: ${failures.slice(0, -1).join('; ')})`, { cause: last });
    }
    throw last;
  }

  /** A manifest or index by tag or digest, size-limited, digest-checked. */
  getManifest(reference: string, expected?: Descriptor, signal?: AbortSignal): Promise<FetchedManifest> {
    const what = `manifest ${this.ref.name}${reference.includes(':') ? '@' : ':'}${reference}`;
    if (expected && expected.size > this.client.maxManifestBytes) {
      return Promise.reject(new BerthError('ResourceExhausted', `${what}: ${expected.size} bytes is over the limit of ${this.client.maxManifestBytes} bytes`));
    }
    return this.eachEndpoint(async (ep) => {
      const res = await this.get(ep, `manifests/${reference}`, { accept: MANIFEST_ACCEPT }, signal);
      const s = res.statusCode ?? 0;
      if (s === 404) {
        res.resume();
        throw new BerthError('NotFound', `${what} not found on ${ep.host}`);
      }
      if (s !== 200) {
        const body = await readBody(res, 4096, what).catch(() => Buffer.alloc(0));
        throw new BerthError('Unavailable', `${what}: ${ep.host} answered ${s}: ${body.toString('utf8').slice(0, 200)}`);
      }
      const bytes = await readBody(res, this.client.maxManifestBytes, what);
      let digest: Digest;
      if (reference.includes(':')) {
        verifyBuffer(bytes, reference, expected?.size, what);
        digest = reference as Digest;
      } else {
        digest = digestOf(bytes);
        const header = res.headers['docker-content-digest'];
        if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
          throw new BerthError('InvalidArgument', `${what}: registry says its digest is ${header} but the bytes hash to ${digest}`, { field: 'digest' });
        }
      }
      const mediaType = (res.headers['content-type'] ?? '').split(';')[0].trim();
      return { digest, mediaType, size: bytes.length, bytes, from: ep.host };
    }, what);
  }

  /** Resolves the reference to one image manifest for `platform` (this node's by default). */
  async resolve(platform: Platform = hostPlatform(), signal?: AbortSignal): Promise<ResolvedImage> {
    const top = await this.getManifest(this.ref.lookup, undefined, signal);
    const what = `${this.ref.normalized}`;
    const parsed = parseManifest(top.bytes, top.mediaType, what);
    if (parsed.kind === 'manifest') return { top, manifest: top, parsed: parsed.manifest };
    const desc = selectPlatform(parsed.index, platform, what);
    const manifest = await this.getManifest(desc.digest, desc, signal);
    const inner = parseManifest(manifest.bytes, manifest.mediaType || desc.mediaType, `${what}@${desc.digest}`);
    if (inner.kind !== 'manifest') throw new BerthError('InvalidArgument', `${what}: index entry ${desc.digest} is itself an index (nested indexes are not supported)`, { field: 'manifests' });
    return { top, index: parsed.index, manifest, parsed: inner.manifest };
  }

  /**
   * A blob as a byte stream. The bytes are not verified here (the content store does that); a connection cut
   * mid-blob is resumed with `Range: bytes=N-` up to the transport's retry count, falling back to skipping
   * the first N bytes when the server ignores Range.
   */
  async openBlob(desc: Pick<Descriptor, 'digest' | 'size'>, signal?: AbortSignal): Promise<Readable> {
    parseDigest(desc.digest, 'digest');
    const what = `blob ${desc.digest} of ${this.ref.name}`;
    const first = await this.eachEndpoint(async (ep) => ({ ep, res: await this.blobResponse(ep, desc.digest, 0, what, signal) }), what);
    const self = this;
    const transport = this.client.transport;
    async function* chunks(): AsyncGenerator<Buffer> {
      let offset = 0;
      let res: IncomingMessage | undefined = first.res;
      let skip = 0;
      for (let resumes = 0; ; ) {
        try {
          if (!res) {
            res = await self.blobResponse(first.ep, desc.digest, offset, what, signal);
            skip = res.statusCode === 200 ? offset : 0;
          }
          for await (const c of readableChunks(res)) {
            let chunk = c;
            if (skip > 0) {
              const n = Math.min(skip, chunk.length);
              skip -= n;
              chunk = chunk.subarray(n);
              if (chunk.length === 0) continue;
            }
            offset += chunk.length;
            yield chunk;
          }
          return;
        } catch (err) {
          res?.destroy();
          res = undefined;
          if (signal?.aborted || !isRetryableNetError(err) || resumes >= transport.retries || offset >= desc.size) throw err;
          const ms = transport.backoff(resumes++);
          self.client.log.debug('blob download cut, resuming', { digest: desc.digest, offset, attempt: resumes, error: (err as Error).message });
          await sleep(ms, signal);
        }
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  private async blobResponse(ep: Endpoint, digest: string, offset: number, what: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.get(ep, `blobs/${digest}`, headers, signal);
    const s = res.statusCode ?? 0;
    if (s === 200) return res;
    if (s === 206 && offset > 0) {
      const cr = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
      if (cr && Number(cr[1]) === offset) return res;
      res.destroy();
      throw new BerthError('Unavailable', `${what}: ${ep.host} answered a Range request with the wrong range (${res.headers['content-range']})`);
    }
    res.resume();
    if (s === 404) throw new BerthError('NotFound', `${what} not found on ${ep.host}`);
    throw new BerthError('Unavailable', `${what}: ${ep.host} answered ${s}`);
  }
}

function unauthenticated(ep: Endpoint, creds: RegistryAuth | undefined, tried: boolean): BerthError {
  if (!creds) return new BerthError('Unauthenticated', `${ep.host} requires authentication: no credentials configured (registries."${ep.host}".auth or the pull's auth)`);
  return new BerthError('Unauthenticated', `${ep.host} rejected the credentials${'username' in creds ? ` for user "${creds.username}"` : ''}${tried ? '' : ''}`);
}

function denied(ep: Endpoint, ref: ImageReference, creds: RegistryAuth | undefined): BerthError {
  return new BerthError('PermissionDenied', `${ep.host}: ${creds && 'username' in creds ? `user "${creds.username}"` : 'anonymous access'} may not pull ${ref.path}`);
}
