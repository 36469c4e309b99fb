/**
 * Docker Engine's registry settings as berthd's `registries` config, so that every image that pulled through
 * Docker before the switch pulls through berthd after it (issue 09, step 3). Docker's `registry-mirrors` are
 * mirrors of Docker Hub only; its `insecure-registries` are hosts or CIDRs (berthd's `insecure` is per host,
 * so a CIDR cannot be carried and is reported); its credentials (root's ~/.docker/config.json `auths`) go to
 * the host they are for. Pure: file texts in, config and a report out.
 */
import type { RegistriesConfig, RegistryHostConfig } from '../../image/api';

export interface CarriedRegistries {
  readonly registries: RegistriesConfig;
  /** What was carried over, one line each (for the NodeMigration's steps). */
  readonly carried: readonly string[];
  /** What could not be, one line each, with why. */
  readonly notCarried: readonly string[];
}

const HUB_KEYS = new Set(['https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io', 'docker.io']);

/** The registry host a Docker auths key or mirror names: `https://index.docker.io/v1/` is docker.io. */
export function dockerRegistryHost(key: string): string {
  if (HUB_KEYS.has(key)) return 'docker.io';
  return key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

const isCidr = (s: string): boolean => /^[0-9a-fA-F.:]+\/\d{1,3}$/.test(s);

function jsonObject(text: string, file: string, notCarried: string[]): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    notCarried.push(`${file}: not a JSON object`);
  } catch (err) {
    notCarried.push(`${file}: not JSON (${(err as Error).message})`);
  }
  return undefined;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : []);

/**
 * `daemonJson`: /etc/docker/daemon.json; `dockerConfig`: root's ~/.docker/config.json. Either may be absent.
 * Credential helpers (`credsStore`, `credHelpers`) keep their secrets elsewhere and are reported.
 */
export function registriesFromDocker(daemonJson?: { file: string; text: string }, dockerConfig?: { file: string; text: string }): CarriedRegistries {
  const out: Record<string, RegistryHostConfig> = {};
  const carried: string[] = [];
  const notCarried: string[] = [];
  const host = (h: string): RegistryHostConfig => (out[h] ??= {});
  const daemon = daemonJson ? jsonObject(daemonJson.text, daemonJson.file, notCarried) : undefined;
  if (daemon) {
    const mirrors = strings(daemon['registry-mirrors']).map((m) => m.replace(/\/+$/, ''));
    if (mirrors.length) {
      host('docker.io').mirrors = mirrors;
      carried.push(`docker.io mirrors ${mirrors.join(', ')} (${daemonJson!.file} registry-mirrors)`);
    }
    for (const entry of strings(daemon['insecure-registries'])) {
      if (isCidr(entry)) {
        notCarried.push(`insecure registry range ${entry} (${daemonJson!.file}): berthd marks hosts insecure, not address ranges; add each host under registries`);
        continue;
      }
      host(dockerRegistryHost(entry)).insecure = true;
      carried.push(`${dockerRegistryHost(entry)} insecure (${daemonJson!.file} insecure-registries)`);
    }
  }
  const config = dockerConfig ? jsonObject(dockerConfig.text, dockerConfig.file, notCarried) : undefined;
  if (config) {
    const auths = config.auths && typeof config.auths === 'object' ? (config.auths as Record<string, unknown>) : {};
    for (const [key, v] of Object.entries(auths)) {
      const a = v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
      const h = dockerRegistryHost(key);
      if (typeof a.auth === 'string' && a.auth !== '') host(h).auth = { auth: a.auth };
      else if (typeof a.identitytoken === 'string' && a.identitytoken !== '') host(h).auth = { identityToken: a.identitytoken };
      else {
        notCarried.push(`credentials for ${h} (${dockerConfig!.file}): no auth or identitytoken there (a credential helper holds them?)`);
        continue;
      }
      carried.push(`${h} credentials (${dockerConfig!.file})`);
    }
    if (typeof config.credsStore === 'string') notCarried.push(`credential store "${config.credsStore}" (${dockerConfig!.file}): its secrets are not on disk for berthd to take`);
    for (const [key, helper] of Object.entries(config.credHelpers && typeof config.credHelpers === 'object' ? (config.credHelpers as Record<string, unknown>) : {})) {
      notCarried.push(`credential helper "${String(helper)}" for ${dockerRegistryHost(key)} (${dockerConfig!.file})`);
    }
  }
  return { registries: out, carried, notCarried };
}
