/**
 * Registry authentication: WWW-Authenticate challenges (Basic and Bearer), credentials from config or the CRI
 * AuthConfig, and bearer tokens fetched from the realm and cached per (realm, service, scope, account).
 */
import { BerthError } from '../../common/errors';
import type { Endpoint, RegistryAuth } from './config';
import { readBody, type Transport } from './transport';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (several challenges and quoted commas allowed). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const out: Challenge[] = [];
  for (const h of Array.isArray(header) ? header : [header]) {
    let i = 0;
    let current: Challenge | undefined;
    while (i < h.length) {
      while (i < h.length && /[\s,]/.test(h[i])) i++;
      const tok = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(h.slice(i));
      if (!tok) break;
      i += tok[0].length;
      let j = i;
      while (j < h.length && h[j] === ' ') j++;
      if (h[j] === '=') {
        i = j + 1;
        while (h[i] === ' ') i++;
        let value = '';
        if (h[i] === '"') {
          i++;
          while (i < h.length && h[i] !== '"') {
            if (h[i] === '\\' && i + 1 < h.length) i++;
            value += h[i++];
          }
          i++;
        } else {
          const m = /^[^,\s]*/.exec(h.slice(i))!;
          value = m[0];
          i += value.length;
        }
        if (current) current.params[tok[0].toLowerCase()] = value;
      } else {
        current = { scheme: tok[0].toLowerCase(), params: {} };
        out.push(current);
      }
    }
  }
  return out;
}

export function basicCredentials(auth: RegistryAuth | undefined): { username: string; password: string } | undefined {
  if (!auth) return undefined;
  if ('username' in auth) return { username: auth.username, password: auth.password };
  if ('auth' in auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw new BerthError('InvalidArgument', 'auth is not base64 of "username:password"', { field: 'auth.auth' });
    return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  return undefined;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Remembers each endpoint's challenge and the tokens it issued. One per RegistryClient. */
export class Authenticator {
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, CachedToken>();

  constructor(private readonly transport: Transport) {}

  setChallenge(host: string, header: string | string[] | undefined): Challenge | undefined {
    const all = parseChallenges(header);
    const c = all.find((x) => x.scheme === 'bearer') ?? all.find((x) => x.scheme === 'basic');
    if (c) this.challenges.set(host, c);
    return c;
  }

  challenge(host: string): Challenge | undefined {
    return this.challenges.get(host);
  }

  /** The Authorization header for a request to `ep` needing `scope`, or undefined (anonymous). */
  async header(ep: Endpoint, auth: RegistryAuth | undefined, scope: string, fresh = false, signal?: AbortSignal): Promise<string | undefined> {
    const c = this.challenges.get(ep.host);
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      const cred = basicCredentials(auth);
      if (!cred) return undefined;
      return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    if (c.scheme !== 'bearer') {
      throw new BerthError('Unimplemented', `${ep.host}: unsupported authentication scheme "${c.scheme}"`);
    }
    if (auth && 'registryToken' in auth) return `Bearer ${auth.registryToken}`;
    const token = await this.token(ep, c, auth, scope, fresh, signal);
    return `Bearer ${token}`;
  }

  private async token(ep: Endpoint, c: Challenge, auth: RegistryAuth | undefined, scope: string, fresh: boolean, signal?: AbortSignal): Promise<string> {
    const realm = c.params.realm;
    if (!realm) throw new BerthError('Unavailable', `${ep.host}: bearer challenge without a realm`);
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new BerthError('Unavailable', `${ep.host}: bad token realm "${realm}"`);
    }
    const cred = basicCredentials(auth);
    const refresh = auth && 'identityToken' in auth ? auth.identityToken : undefined;
    const key = `${realm}|${c.params.service ?? ''}|${scope}|${cred?.username ?? (refresh ? 'identity' : '')}`;
    const cached = this.tokens.get(key);
    if (!fresh && cached && cached.expiresAt > Date.now()) return cached.token;

    let res;
    if (refresh) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: c.params.service ?? '', scope, client_id: 'berth' });
      res = await this.transport.send({ method: 'POST', url: realmUrl, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()) }, ep, signal);
    } else {
      const url = new URL(realmUrl);
      if (c.params.service) url.searchParams.set('service', c.params.service);
      for (const s of scope.split(' ')) if (s) url.searchParams.append('scope', s);
      if (cred) url.searchParams.set('account', cred.username);
      const headers: Record<string, string> = {};
      if (cred) headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
      res = await this.transport.send({ method: 'GET', url, headers }, ep, signal);
    }
    const status = res.statusCode ?? 0;
    const body = await readBody(res, 1 << 20, `token from ${realmUrl.origin}`);
    if (status === 401) {
      throw new BerthError('Unauthenticated', cred || refresh
        ? `token server ${realmUrl.origin} rejected the credentials for ${ep.host}${cred ? ` (user "${cred.username}")` : ''}`
        : `${ep.host} requires authentication: no credentials configured (registries."${ep.host}".auth or the pull's auth)`);
    }
    if (status === 403) throw new BerthError('PermissionDenied', `token server ${realmUrl.origin} denied ${scope} on ${ep.host}${cred ? ` to user "${cred.username}"` : ''}`);
    if (status < 200 || status >= 300) throw new BerthError('Unavailable', `token server ${realmUrl.origin} answered ${status}: ${body.toString('utf8').slice(0, 200)}`);
    let doc: { token?: string; access_token?: string; expires_in?: number };
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      throw new BerthError('Unavailable', `token server ${realmUrl.origin} answered with something that is not JSON`);
    }
    const token = doc.token ?? doc.access_token;
    if (typeof token !== 'string' || token === '') throw new BerthError('Unavailable', `token server ${realmUrl.origin} answered without a token`);
    // Tokens live at least 60 s by the spec; refresh a little early.
    const life = Math.max(60, typeof doc.expires_in === 'number' ? doc.expires_in : 60);
    this.tokens.set(key, { token, expiresAt: Date.now() + (life - 10) * 1000 });
    return token;
  }
}
