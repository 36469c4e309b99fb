/**
 * containerd's registry settings as berthd's `registries` config (issue 09, step 3): the certs.d directory's
 * hosts.toml files (one directory per upstream host, `_default` for all) and the CRI plugin's older
 * `registry.mirrors` / `registry.configs` tables (containerd 1.6's config.toml; containerd 2.x's images plugin
 * has the same tables). A hosts.toml `[host."URL"]` with the pull capability is a mirror; `server`, when it is
 * not the upstream itself, is tried last, as containerd does. TLS settings go to the host they are for. What
 * berthd cannot express (a mirror's path, client certificates for a mirror, push-only hosts) is reported.
 */
import type { RegistryHostConfig } from '../../image/api';
import type { CarriedRegistries } from './registries-docker';
import { readTomlTables, SEP, type TomlTables, type TomlValue } from './toml-values';

const str = (v: TomlValue | undefined): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const strs = (v: TomlValue | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : str(v) ? [v as string] : []);

class Collector {
  readonly registries: Record<string, RegistryHostConfig> = {};
  readonly carried: string[] = [];
  readonly notCarried: string[] = [];
  host(h: string): RegistryHostConfig {
    return (this.registries[h] ??= {});
  }
  result(): CarriedRegistries {
    return { registries: this.registries, carried: this.carried, notCarried: this.notCarried };
  }
}

/** `https://mirror:5000/some/path` → the endpoint berthd takes (scheme, host, port) and its host; a path is reported. */
function endpointOf(url: string, where: string, c: Collector): { endpoint: string; host: string } | undefined {
  const m = /^(https?:\/\/)?([^/\s]+)(\/.*)?$/.exec(url);
  if (!m) {
    c.notCarried.push(`${url} (${where}): not a registry URL`);
    return undefined;
  }
  if (m[3] && m[3] !== '/' && m[3] !== '/v2' && m[3] !== '/v2/') c.notCarried.push(`the path ${m[3]} of ${url} (${where}): berthd mirrors are hosts; the path is dropped`);
  return { endpoint: `${m[1] ?? 'https://'}${m[2]}`, host: m[2] };
}

function tls(c: Collector, host: string, values: Map<string, TomlValue>, where: string, keys: { insecure: string; ca: string }): void {
  if (values.get(keys.insecure) === true) {
    c.host(host).insecure = true;
    c.carried.push(`${host} insecure (${where})`);
  }
  const cas = strs(values.get(keys.ca));
  if (cas.length) {
    c.host(host).ca = cas[0];
    c.carried.push(`${host} CA ${cas[0]} (${where})`);
    if (cas.length > 1) c.notCarried.push(`${host} CAs ${cas.slice(1).join(', ')} (${where}): berthd takes one CA file per host`);
  }
}

/** One certs.d/<dir>/hosts.toml. */
export function registriesFromHostsToml(dir: string, file: string, text: string): CarriedRegistries {
  const into = new Collector();
  const upstream = dir === '_default' ? '*' : dir;
  const tables = readTomlTables(text);
  const mirrors: string[] = [];
  for (const [name, values] of tables) {
    const parts = name.split(SEP);
    if (parts.length !== 2 || parts[0] !== 'host') continue;
    const e = endpointOf(parts[1], file, into);
    if (!e) continue;
    const caps = values.has('capabilities') ? strs(values.get('capabilities')) : ['pull', 'resolve', 'push'];
    if (!caps.includes('pull')) {
      into.notCarried.push(`${parts[1]} (${file}): not a pull host (capabilities ${caps.join(', ')})`);
      continue;
    }
    mirrors.push(e.endpoint);
    tls(into, e.host, values, file, { insecure: 'skip_verify', ca: 'ca' });
    if (values.has('client')) into.notCarried.push(`client certificates for ${parts[1]} (${file}): berthd takes them per registry, not per mirror`);
  }
  const server = str(tables.get('')?.get('server'));
  const serverEndpoint = server ? endpointOf(server, file, into) : undefined;
  if (serverEndpoint && serverEndpoint.host !== upstream && !(upstream === 'docker.io' && serverEndpoint.host === 'registry-1.docker.io')) mirrors.push(serverEndpoint.endpoint);
  if (mirrors.length) {
    into.host(upstream).mirrors = mirrors;
    into.carried.push(`${upstream} mirrors ${mirrors.join(', ')} (${file})`);
  }
  return into.result();
}

const CRI_PLUGINS = ['io.containerd.grpc.v1.cri', 'io.containerd.cri.v1.images'];

/** The CRI plugin's registry.mirrors and registry.configs tables in containerd's config.toml. */
export function registriesFromContainerdConfig(file: string, text: string): CarriedRegistries {
  const c = new Collector();
  const tables: TomlTables = readTomlTables(text);
  for (const [name, values] of tables) {
    const p = name.split(SEP);
    if (p[0] !== 'plugins' || !CRI_PLUGINS.includes(p[1]) || p[2] !== 'registry') continue;
    const host = p[4];
    if (p[3] === 'mirrors' && p.length === 5) {
      const mirrors = strs(values.get('endpoint')).flatMap((u) => endpointOf(u, file, c)?.endpoint ?? []).filter((e) => !e.endsWith(`//${host}`));
      if (mirrors.length) {
        c.host(host === '*' ? '*' : host).mirrors = mirrors;
        c.carried.push(`${host} mirrors ${mirrors.join(', ')} (${file})`);
      }
    } else if (p[3] === 'configs' && p.length === 6 && p[5] === 'tls') {
      tls(c, host, values, file, { insecure: 'insecure_skip_verify', ca: 'ca_file' });
    } else if (p[3] === 'configs' && p.length === 6 && p[5] === 'auth') {
      const [user, pass, auth, token] = ['username', 'password', 'auth', 'identitytoken'].map((k) => str(values.get(k)));
      const a = user && pass ? { username: user, password: pass } : auth ? { auth } : token ? { identityToken: token } : undefined;
      if (a) {
        c.host(host).auth = a;
        c.carried.push(`${host} credentials (${file})`);
      }
    }
  }
  return c.result();
}
