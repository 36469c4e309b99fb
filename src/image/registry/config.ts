/**
 * Per-registry configuration, mirroring berthd's config keys:
 *
 *   registries:
 *     registry.k8s.io: {mirrors: ["http://127.0.0.1:5000"], insecure: false, ca: /path/ca.pem}
 *     "*": {mirrors: [...]}          # applies to every host; a host's own keys win
 *
 * and the endpoints a host resolves to: each mirror in order, then the upstream.
 */
import * as net from 'node:net';
import { invalid } from '../../common/errors';

export type RegistryAuth = { username: string; password: string } | { auth: string } | { identityToken: string } | { registryToken: string };

export interface RegistryHostConfig {
  /** Mirror endpoints tried in order before the upstream: `https://host[:port]`, `http://host[:port]` or `host[:port]`. */
  mirrors?: string[];
  /** Plain HTTP, or HTTPS without certificate verification. Only when configured (loopback hosts may use HTTP anyway). */
  insecure?: boolean;
  /** PEM file with the CA(s) that sign the registry's certificate (added to the system roots). */
  ca?: string;
  /** PEM client certificate and key for TLS client authentication. */
  cert?: string;
  key?: string;
  auth?: RegistryAuth;
}

export type RegistriesConfig = Record<string, RegistryHostConfig>;

/** One place to send requests to: scheme candidates, host, and the TLS/auth settings that apply there. */
export interface Endpoint {
  /** `host[:port]` as used in URLs. */
  host: string;
  /** Schemes to try, in order; plain `http` only appears when allowed. */
  schemes: Array<'https' | 'http'>;
  /** Skip certificate verification (insecure). */
  skipVerify: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  auth?: RegistryAuth;
  mirror: boolean;
}

/** The host config for `host`: its own entry over the `*` entry. */
export function hostConfig(config: RegistriesConfig | undefined, host: string): RegistryHostConfig {
  const all = config?.['*'] ?? {};
  const own = config?.[host] ?? {};
  return { ...all, ...own };
}

/** `docker.io` is served by `registry-1.docker.io`. */
export function upstreamHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

export function isLoopbackHost(host: string): boolean {
  const h = stripPort(host).replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^::ffff:127\./i.test(h);
  return false;
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return i >= 0 && host.indexOf(':') === i ? host.slice(0, i) : host;
}

/** Validates the shape of a registries config (what berthd's config loader calls); errors name the key. */
export function validateRegistriesConfig(config: unknown, field = 'registries'): RegistriesConfig {
  if (config === undefined || config === null) return {};
  if (typeof config !== 'object' || Array.isArray(config)) throw invalid(field, 'must be a map of host → settings');
  for (const [host, entry] of Object.entries(config as Record<string, unknown>)) {
    const f = `${field}.${host}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalid(f, 'must be a map');
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!['mirrors', 'insecure', 'ca', 'cert', 'key', 'auth'].includes(k)) throw invalid(`${f}.${k}`, 'unknown key (known: mirrors, insecure, ca, cert, key, auth)');
    }
    if (e.mirrors !== undefined) {
      if (!Array.isArray(e.mirrors)) throw invalid(`${f}.mirrors`, 'must be a list of URLs');
      e.mirrors.forEach((m, i) => parseMirror(m, `${f}.mirrors[${i}]`));
    }
    if (e.insecure !== undefined && typeof e.insecure !== 'boolean') throw invalid(`${f}.insecure`, 'must be true or false');
    for (const k of ['ca', 'cert', 'key'] as const) if (e[k] !== undefined && typeof e[k] !== 'string') throw invalid(`${f}.${k}`, 'must be a file path');
    if ((e.cert === undefined) !== (e.key === undefined)) throw invalid(`${f}.${e.cert === undefined ? 'cert' : 'key'}`, 'cert and key go together');
    if (e.auth !== undefined) {
      const a = e.auth as Record<string, unknown>;
      const ok = typeof a === 'object' && a !== null &&
        ((typeof a.username === 'string' && typeof a.password === 'string') || typeof a.auth === 'string' ||
          typeof a.identityToken === 'string' || typeof a.registryToken === 'string');
      if (!ok) throw invalid(`${f}.auth`, 'must be {username, password} or {auth: base64(user:password)}');
    }
  }
  return config as RegistriesConfig;
}

/** `https://host:port`, `http://host`, or bare `host:port` → scheme (undefined when bare) and host. */
export function parseMirror(mirror: unknown, field: string): { scheme?: 'http' | 'https'; host: string } {
  if (typeof mirror !== 'string' || mirror === '') throw invalid(field, 'must be a URL such as https://mirror.example:5000');
  const m = /^(?:(https?):\/\/)?([^/?#]+)\/?(?:v2\/?)?$/.exec(mirror);
  if (!m) throw invalid(field, `bad mirror "${mirror}": expected [http[s]://]host[:port]`);
  return { scheme: m[1] as 'http' | 'https' | undefined, host: m[2] };
}

function endpointFor(config: RegistriesConfig | undefined, host: string, explicitScheme: 'http' | 'https' | undefined, mirror: boolean, parent: RegistryHostConfig): Endpoint {
  const own = config?.[host] ?? {};
  // A mirror takes TLS settings from its own entry when it has one, else from the registry it mirrors.
  const c: RegistryHostConfig = mirror ? { ...parent, ...own, auth: own.auth ?? parent.auth } : parent;
  const insecure = c.insecure === true;
  const plainAllowed = insecure || isLoopbackHost(host);
  let schemes: Array<'https' | 'http'>;
  if (explicitScheme === 'http') {
    if (!plainAllowed) throw invalid(`registries`, `mirror http://${host} uses plain HTTP but ${host} is not configured insecure: true`);
    schemes = ['http'];
  } else if (explicitScheme === 'https') schemes = ['https'];
  else schemes = plainAllowed ? ['https', 'http'] : ['https'];
  return { host, schemes, skipVerify: insecure, ca: c.ca, cert: c.cert, key: c.key, auth: c.auth, mirror };
}

/** The endpoints for a registry domain: its mirrors in order (its own list, else the `*` list), then the upstream. */
export function resolveEndpoints(config: RegistriesConfig | undefined, domain: string): Endpoint[] {
  const c = hostConfig(config, domain);
  const out: Endpoint[] = [];
  (c.mirrors ?? []).forEach((m, i) => {
    const { scheme, host } = parseMirror(m, `registries.${domain}.mirrors[${i}]`);
    out.push(endpointFor(config, host, scheme, true, c));
  });
  out.push(endpointFor(config, upstreamHost(domain), undefined, false, c));
  return out;
}
