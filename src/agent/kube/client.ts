/**
 * The agent's one door to the API server: @kubernetes/client-node's KubeConfig (kubeconfig file or in-cluster
 * ServiceAccount, TLS, tokens, exec plugins) for authentication and its Watch for streams; plain JSON requests
 * otherwise, since every object is validated into the agent's own types (api/validate.ts) anyway and the
 * generated model classes would cost the agent more memory than the rest of it together.
 * API errors become BerthErrors with a kind, carrying the HTTP status and the Status message.
 */
import * as https from 'node:https';
import * as http from 'node:http';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { BerthError, type ErrorKind } from '../../common/errors';
import { requestKind, type RequestKind } from './request-kind';

export type Json = Record<string, unknown>;

export class ApiError extends BerthError {
  constructor(kind: ErrorKind, message: string, readonly status: number, readonly reason: string) {
    super(kind, message);
  }
}

const KIND_OF_STATUS: Record<number, ErrorKind> = {
  400: 'InvalidArgument', 401: 'Unauthenticated', 403: 'PermissionDenied', 404: 'NotFound', 409: 'AlreadyExists',
  410: 'FailedPrecondition', 422: 'InvalidArgument', 429: 'ResourceExhausted', 503: 'Unavailable', 504: 'DeadlineExceeded',
};

export interface RequestOptions {
  body?: unknown;
  /** For PATCH: merge (default), strategic, json. */
  patch?: 'merge' | 'strategic' | 'json';
  query?: Record<string, string | number | boolean | undefined>;
}

/** One watch stream's events; `done` is called once, when the stream ends for whatever reason. */
export interface WatchHandlers {
  event(type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR', object: Json): void;
  done(err: unknown): void;
}

const REQUEST_TIMEOUT_MS = 30_000;

export class KubeClient {
  private readonly watcher: Watch;
  /** Requests made, by verb, group and resource: the agent's own account of its API use (see onRequest). */
  readonly requests = new Map<string, { kind: RequestKind; count: number }>();

  /** Told of each request as it is made, `first` for the first of its kind (watches count when opened). */
  onRequest: (kind: RequestKind, first: boolean) => void = () => undefined;

  constructor(readonly config: KubeConfig) {
    this.watcher = new Watch(config);
  }

  /** `context` picks a kubeconfig context other than the current one (kubectl's --context). */
  static fromFileOrCluster(kubeconfig: string | undefined, context?: string): KubeClient {
    const kc = new KubeConfig();
    try {
      if (kubeconfig) kc.loadFromFile(kubeconfig);
      else kc.loadFromDefault();
    } catch (err) {
      throw new BerthError('InvalidArgument', `cannot load the kubeconfig${kubeconfig ? ` ${kubeconfig}` : ''}: ${(err as Error).message}`, { field: '--kubeconfig', cause: err });
    }
    if (context !== undefined) {
      if (!kc.getContexts().some((c) => c.name === context)) throw new BerthError('NotFound', `the kubeconfig has no context "${context}"`, { field: '--context' });
      kc.setCurrentContext(context);
    }
    if (!kc.getCurrentCluster()) throw new BerthError('InvalidArgument', 'the kubeconfig names no current cluster', { field: '--kubeconfig' });
    return new KubeClient(kc);
  }

  private count(method: string, path: string, watch = false): void {
    const kind = requestKind(method, path, watch);
    const key = `${kind.verb} ${kind.group}/${kind.resource}`;
    const seen = this.requests.get(key);
    if (seen) seen.count++;
    else this.requests.set(key, { kind, count: 1 });
    this.onRequest(kind, seen === undefined);
  }

  /** A request; resolves with the decoded body (undefined for an empty one), rejects with an ApiError. */
  async request(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, o: RequestOptions = {}): Promise<Json | undefined> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new BerthError('FailedPrecondition', 'no current cluster in the kubeconfig');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const contentType = method === 'PATCH'
      ? { merge: 'application/merge-patch+json', strategic: 'application/strategic-merge-patch+json', json: 'application/json-patch+json' }[o.patch ?? 'merge']
      : 'application/json';
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const opts: https.RequestOptions = {
      method,
      headers: { Accept: 'application/json', ...(payload ? { 'Content-Type': contentType, 'Content-Length': payload.length } : {}) },
      timeout: REQUEST_TIMEOUT_MS,
    };
    await this.config.applyToHTTPSOptions(opts);
    this.count(method, path);
    const transport = url.protocol === 'http:' ? http : https;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = transport.request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new BerthError('DeadlineExceeded', `${method} ${path}: no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', (err) => reject(err instanceof BerthError ? err : new BerthError('Unavailable', `${method} ${path}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
    let body: Json | undefined;
    try {
      body = text ? (JSON.parse(text) as Json) : undefined;
    } catch {
      body = undefined;
    }
    if (status >= 200 && status < 300) return body;
    const message = typeof body?.message === 'string' ? body.message : text.slice(0, 200) || `HTTP ${status}`;
    const reason = typeof body?.reason === 'string' ? body.reason : '';
    const kind = status === 409 && reason === 'Conflict' ? 'FailedPrecondition' : KIND_OF_STATUS[status] ?? (status >= 500 ? 'Unavailable' : 'Internal');
    throw new ApiError(kind, `${method} ${url.pathname}: ${message}`, status, reason);
  }

  get(path: string): Promise<Json | undefined> {
    return this.request('GET', path);
  }

  /** GET that answers undefined for a 404. */
  async find(path: string): Promise<Json | undefined> {
    try {
      return await this.request('GET', path);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Starts a watch stream; the returned function stops it (then `done` is called with null). */
  async watch(path: string, query: Record<string, string | number | boolean | undefined>, h: WatchHandlers): Promise<() => void> {
    this.count('GET', path, true);
    const controller = await this.watcher.watch(path, query, (type, obj) => h.event(type as Parameters<WatchHandlers['event']>[0], obj as Json), (err) => h.done(err));
    return () => controller.abort();
  }
}
