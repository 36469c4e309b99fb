/**
 * CNI spec versions: the ones this library implements, comparison, and the VERSION command's answer.
 * Result formats: 0.3.0, 0.3.1 and 0.4.0 share one format ("ips[].version" present), 1.0.0 drops it, 1.1.0
 * adds interface and route attributes. 0.1.0 / 0.2.0 (the "ip4"/"ip6" result) are written for the plugins that
 * accept them (loopback: cri-dockerd's lo config is 0.2.0), never read (they have no prevResult).
 */
import { incompatibleVersion } from './errors';

export const CURRENT_VERSION = '1.1.0';

/** Every version our plugins accept in a config and can write results in. */
export const SUPPORTED_VERSIONS: readonly string[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

export interface VersionInfo {
  cniVersion: string;
  supportedVersions: string[];
}

function parts(v: string): [number, number, number] | undefined {
  const m = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function isVersionString(v: unknown): v is string {
  return typeof v === 'string' && parts(v) !== undefined;
}

/** Compares two "x.y.z" versions; throws on a malformed one. */
export function compareVersions(a: string, b: string): number {
  const pa = parts(a);
  const pb = parts(b);
  if (!pa || !pb) throw new Error(`malformed CNI version ${JSON.stringify(pa ? b : a)}`);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

export function versionAtLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}

/** Throws the spec's code 1 when `version` is not one of `supported`. */
export function requireSupported(version: string, supported: readonly string[] = SUPPORTED_VERSIONS): void {
  if (!supported.includes(version)) {
    throw incompatibleVersion('incompatible CNI versions', `config is ${JSON.stringify(version)}, plugin supports ${JSON.stringify(supported)}`);
  }
}

export function versionInfo(supported: readonly string[] = SUPPORTED_VERSIONS): VersionInfo {
  return { cniVersion: CURRENT_VERSION, supportedVersions: [...supported] };
}

/** The result format family of a version. */
export type ResultFormat = '0.2' | '0.4' | '1.0' | '1.1';

/** The versions before chaining, for plugins that accept them besides SUPPORTED_VERSIONS. */
export const LEGACY_VERSIONS: readonly string[] = ['0.1.0', '0.2.0'];

export function resultFormatOf(version: string): ResultFormat {
  if (compareVersions(version, '1.1.0') >= 0) return '1.1';
  if (compareVersions(version, '1.0.0') >= 0) return '1.0';
  if (compareVersions(version, '0.3.0') >= 0) return '0.4';
  if (LEGACY_VERSIONS.includes(version)) return '0.2';
  throw incompatibleVersion('incompatible CNI versions', `result version ${JSON.stringify(version)} is not implemented (0.3.0 and later are)`);
}
