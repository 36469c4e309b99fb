/**
 * The one validating boundary for what arrives on a plugin's stdin, and for conflists: JSON text in, typed
 * NetConf / NetConfList out, or the spec's error (6 for undecodable JSON, 1 for an unsupported cniVersion,
 * 7 naming the field for anything else).
 */
import { decodeFailure, invalidConfig } from './errors';
import { parseDNS, parseResult } from './result';
import type { Attachment, NetConf, NetConfList, RuntimeConfig } from './types';
import { NETWORK_NAME_RE, asArray, asObject, isObject, join, optBool, optString, optStringArray, reqString, typeName, type Json } from './validate';
import { SUPPORTED_VERSIONS, compareVersions, isVersionString, requireSupported } from './version';

/** The GC verb's list of attachments to keep (spec 1.1). */
export const VALID_ATTACHMENTS_KEY = 'cni.dev/valid-attachments';

export function decodeJson(data: string | Buffer, what = 'network config'): Json {
  let v: unknown;
  try {
    v = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    throw decodeFailure(`error decoding ${what}: ${(err as Error).message}`, err);
  }
  if (!isObject(v)) throw decodeFailure(`error decoding ${what}: expected a JSON object, got ${typeName(v)}`);
  return v;
}

function readVersion(o: Json, field = 'cniVersion', supported: readonly string[] = SUPPORTED_VERSIONS): string {
  const v = o.cniVersion;
  if (v === undefined || v === null || v === '') throw invalidConfig(field, 'missing (required)');
  if (!isVersionString(v)) throw invalidConfig(field, `malformed version ${JSON.stringify(v)} (want "x.y.z")`);
  requireSupported(v, supported);
  return v;
}

function readName(o: Json, field = 'name'): string {
  const name = o.name;
  if (name === undefined || name === null || name === '') throw invalidConfig(field, 'missing network name');
  if (typeof name !== 'string') throw invalidConfig(field, `must be a string, not ${typeName(name)}`);
  if (!NETWORK_NAME_RE.test(name)) throw invalidConfig(field, `invalid network name ${JSON.stringify(name)}: must start with a letter or digit, then letters, digits, "_", "." or "-"`);
  return name;
}

function readAttachments(v: unknown, field: string): Attachment[] {
  return asArray(v, field).map((x, i) => {
    const f = join(field, i);
    const o = asObject(x, f);
    return { containerID: reqString(o, 'containerID', f), ifname: reqString(o, 'ifname', f) };
  });
}

/** Parses a single plugin's configuration (stdin of ADD/DEL/CHECK/STATUS/GC). */
export function parseNetConf(data: string | Buffer, supported: readonly string[] = SUPPORTED_VERSIONS): NetConf {
  const o = decodeJson(data);
  const cniVersion = readVersion(o, 'cniVersion', supported);
  const name = readName(o);
  const type = reqString(o, 'type');
  const conf: NetConf = { cniVersion, name, type, raw: o };
  if (o.capabilities !== undefined && o.capabilities !== null) {
    const caps = asObject(o.capabilities, 'capabilities');
    for (const [k, v] of Object.entries(caps)) if (typeof v !== 'boolean') throw invalidConfig(join('capabilities', k), `must be a boolean, not ${typeName(v)}`);
    conf.capabilities = caps as Record<string, boolean>;
  }
  if (o.ipam !== undefined && o.ipam !== null) {
    const ipam = asObject(o.ipam, 'ipam');
    const ipamType = optString(ipam, 'type', 'ipam');
    conf.ipam = { ...ipam, type: ipamType ?? '' };
  }
  if (o.dns !== undefined && o.dns !== null) conf.dns = parseDNS(o.dns, 'dns');
  if (o.args !== undefined && o.args !== null) conf.args = asObject(o.args, 'args');
  if (o.runtimeConfig !== undefined && o.runtimeConfig !== null) {
    const rc = asObject(o.runtimeConfig, 'runtimeConfig');
    if (rc.ips !== undefined) optStringArray(rc, 'ips', 'runtimeConfig');
    conf.runtimeConfig = rc as RuntimeConfig;
  }
  if (o.prevResult !== undefined && o.prevResult !== null) conf.prevResult = parseResult(o.prevResult, 'prevResult', cniVersion);
  if (o[VALID_ATTACHMENTS_KEY] !== undefined && o[VALID_ATTACHMENTS_KEY] !== null) conf.validAttachments = readAttachments(o[VALID_ATTACHMENTS_KEY], VALID_ATTACHMENTS_KEY);
  return conf;
}

/**
 * Parses a `.conflist`. With `cniVersions` (1.1), the list's version is the highest of them this library
 * supports; `cniVersion` otherwise.
 */
export function parseConfList(data: string | Buffer, supported: readonly string[] = SUPPORTED_VERSIONS): NetConfList {
  const o = decodeJson(data, 'network configuration list');
  let cniVersion: string;
  let cniVersions: string[] | undefined;
  if (o.cniVersions !== undefined && o.cniVersions !== null) {
    cniVersions = optStringArray(o, 'cniVersions') ?? [];
    cniVersions.forEach((v, i) => {
      if (!isVersionString(v)) throw invalidConfig(`cniVersions[${i}]`, `malformed version ${JSON.stringify(v)}`);
    });
    const usable = cniVersions.filter((v) => supported.includes(v)).sort(compareVersions);
    if (usable.length === 0) {
      if (o.cniVersion !== undefined) cniVersion = readVersion(o, 'cniVersion', supported);
      else throw invalidConfig('cniVersions', `none of ${JSON.stringify(cniVersions)} is supported (${supported.join(', ')})`);
    } else {
      cniVersion = usable[usable.length - 1];
    }
  } else {
    cniVersion = readVersion(o, 'cniVersion', supported);
  }
  const name = readName(o);
  const list: NetConfList = { cniVersion, name, plugins: [] };
  if (cniVersions) list.cniVersions = cniVersions;
  const disableCheck = optBool(o, 'disableCheck');
  if (disableCheck !== undefined) list.disableCheck = disableCheck;
  const disableGC = optBool(o, 'disableGC');
  if (disableGC !== undefined) list.disableGC = disableGC;
  if (o.plugins === undefined || o.plugins === null) throw invalidConfig('plugins', 'missing (required)');
  const plugins = asArray(o.plugins, 'plugins');
  if (plugins.length === 0) throw invalidConfig('plugins', 'must list at least one plugin');
  list.plugins = plugins.map((p, i) => {
    const f = join('plugins', i);
    const po = asObject(p, f);
    return { ...po, type: reqString(po, 'type', f) };
  });
  return list;
}

/** The stdin a runtime gives one plugin of a list (spec: name and cniVersion injected, runtimeConfig, prevResult). */
export function pluginConfigFromList(list: NetConfList, index: number, extra: { runtimeConfig?: Json; prevResult?: Json } = {}): Json {
  const conf: Json = { ...list.plugins[index], cniVersion: list.cniVersion, name: list.name };
  if (extra.runtimeConfig && Object.keys(extra.runtimeConfig).length > 0) conf.runtimeConfig = extra.runtimeConfig;
  if (extra.prevResult) conf.prevResult = extra.prevResult;
  return conf;
}
