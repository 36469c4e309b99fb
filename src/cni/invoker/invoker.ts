/**
 * The CNI invoker berthd uses (libcni semantics): a network is the first `.conflist` of the config dir; ADD
 * runs its plugins in order, each getting the previous result; DEL runs them in reverse with the cached
 * result; results and config are cached per attachment; CHECK is skipped when the list disables it; STATUS
 * answers "can this network take ADDs"; GC deletes cached attachments that are no longer valid, then asks
 * each plugin to collect. A failed ADD is rolled back with a DEL of the whole list.
 *
 * Plugins whose type is in the registry run in-process through the same runPlugin as their executables;
 * the others are exec'd from the bin dirs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import { parseConfList, pluginConfigFromList, VALID_ATTACHMENTS_KEY } from '../pkg/config';
import type { Env } from '../pkg/env';
import { errorOf, invokePlugin, resultOf, type PluginRegistry } from '../pkg/invoke';
import { convertResult } from '../pkg/result';
import type { NetConfList, Result } from '../pkg/types';
import { versionAtLeast } from '../pkg/version';
import type { Json } from '../pkg/validate';
import { ResultCache, type CachedAttachment } from './cache';
import { BERTH_PLUGINS } from './registry';

export interface InvokerOptions {
  /** Where plugin executables are looked up (CNI_PATH). */
  binDirs: string[];
  /** Per-attachment cache (default /var/lib/cni, as libcni). */
  cacheDir?: string;
  /** In-process plugins by type (default: Berth's own); `{}` execs everything. */
  registry?: PluginRegistry;
  execTimeoutMs?: number;
}

export interface Attachment {
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS pairs. */
  args?: Array<[string, string]>;
  /** runtimeConfig values (portMappings, mac, ips, …), given to plugins that declare the capability. */
  capabilityArgs?: Json;
}

export interface LoadedNetwork {
  file: string;
  list: NetConfList;
  /** The list exactly as read (cached with each attachment). */
  raw: Json;
}

/** Loads the first `.conflist` (by name) of `confDir`. */
export function loadNetwork(confDir: string): LoadedNetwork {
  let names: string[];
  try {
    names = fs.readdirSync(confDir).filter((n) => n.endsWith('.conflist')).sort();
  } catch (err) {
    throw new BerthError('NotFound', `CNI config dir ${confDir}: ${(err as Error).message}`, { cause: err });
  }
  if (names.length === 0) throw new BerthError('NotFound', `no .conflist in ${confDir}`);
  const file = path.join(confDir, names[0]);
  return networkFromText(fs.readFileSync(file, 'utf8'), file);
}

export function networkFromText(text: string, file = '<inline>'): LoadedNetwork {
  const list = parseConfList(text);
  return { file, list, raw: JSON.parse(text) as Json };
}

function argsText(args: Array<[string, string]> = []): string {
  return args.map(([k, v]) => `${k}=${v}`).join(';');
}

export class Invoker {
  readonly cache: ResultCache;
  private readonly registry: PluginRegistry;

  constructor(private readonly options: InvokerOptions) {
    this.cache = new ResultCache(options.cacheDir ?? '/var/lib/cni');
    this.registry = options.registry ?? BERTH_PLUGINS;
  }

  private env(command: string, att?: Attachment): Env {
    const env: Env = { CNI_COMMAND: command, CNI_PATH: this.options.binDirs.join(':') };
    if (att) {
      env.CNI_CONTAINERID = att.containerId;
      if (att.netns) env.CNI_NETNS = att.netns;
      env.CNI_IFNAME = att.ifname;
      const a = argsText(att.args);
      if (a) env.CNI_ARGS = a;
    }
    if (process.env.PATH) env.PATH = process.env.PATH;
    return env;
  }

  /** runtimeConfig for plugin `i`: only the capabilities it declares. */
  private runtimeConfig(list: NetConfList, i: number, caps: Json = {}): Json {
    const declared = list.plugins[i].capabilities;
    const out: Json = {};
    if (declared && typeof declared === 'object') {
      for (const [k, on] of Object.entries(declared as Record<string, unknown>)) if (on === true && caps[k] !== undefined) out[k] = caps[k];
    }
    return out;
  }

  private async call(list: NetConfList, i: number, command: string, att: Attachment | undefined, prevResult: Json | undefined, extra: Json = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const conf = { ...pluginConfigFromList(list, i, { runtimeConfig: this.runtimeConfig(list, i, att?.capabilityArgs), prevResult }), ...extra };
    const type = list.plugins[i].type;
    return invokePlugin(type, { env: this.env(command, att), stdin: JSON.stringify(conf) }, this.registry, { timeoutMs: this.options.execTimeoutMs });
  }

  async add(net: LoadedNetwork, att: Attachment): Promise<Result> {
    const { list } = net;
    let prev: Json | undefined;
    for (let i = 0; i < list.plugins.length; i++) {
      const out = await this.call(list, i, 'ADD', att, prev);
      if (out.exitCode !== 0) {
        const err = errorOf(out, `plugin ${list.plugins[i].type}`);
        await this.delPlugins(list, att, prev).catch(() => undefined);
        throw err;
      }
      prev = convertResult(resultOf(out, `plugin ${list.plugins[i].type}`), list.cniVersion);
    }
    const result = prev ?? { cniVersion: list.cniVersion };
    this.cache.put({
      kind: 'berthCniCacheV1', networkName: list.name, containerId: att.containerId, ifName: att.ifname, netns: att.netns,
      cniArgs: att.args ?? [], capabilityArgs: att.capabilityArgs ?? {}, config: net.raw, result,
    });
    return resultOf({ exitCode: 0, stdout: JSON.stringify(result), stderr: '' });
  }

  /** DEL of every plugin in reverse; all run, the first error is thrown. */
  private async delPlugins(list: NetConfList, att: Attachment, prev: Json | undefined): Promise<void> {
    let first: Error | undefined;
    for (let i = list.plugins.length - 1; i >= 0; i--) {
      try {
        const out = await this.call(list, i, 'DEL', att, versionAtLeast(list.cniVersion, '0.4.0') ? prev : undefined);
        if (out.exitCode !== 0) throw errorOf(out, `plugin ${list.plugins[i].type}`);
      } catch (err) {
        first ??= err as Error;
      }
    }
    if (first) throw first;
  }

  /** Idempotent; uses the cached config and result when there is one (so it works after a restart). */
  async del(net: LoadedNetwork, att: Attachment): Promise<void> {
    const cached = this.cache.get(net.list.name, att.containerId, att.ifname);
    const list = cached ? parseConfList(JSON.stringify(cached.config)) : net.list;
    const full: Attachment = cached ? { capabilityArgs: cached.capabilityArgs, args: cached.cniArgs, ...att } : att;
    await this.delPlugins(list, full, cached?.result);
    this.cache.remove(net.list.name, att.containerId, att.ifname);
  }

  async check(net: LoadedNetwork, att: Attachment): Promise<void> {
    const { list } = net;
    if (list.disableCheck) return;
    if (!versionAtLeast(list.cniVersion, '0.4.0')) throw new BerthError('FailedPrecondition', `configuration version ${list.cniVersion} does not support CHECK`);
    const cached = this.cache.get(list.name, att.containerId, att.ifname);
    if (!cached) throw new BerthError('NotFound', `no cached result for ${list.name}/${att.containerId}/${att.ifname}: was it added?`);
    const full: Attachment = { capabilityArgs: cached.capabilityArgs, args: cached.cniArgs, ...att };
    for (let i = 0; i < list.plugins.length; i++) {
      const out = await this.call(list, i, 'CHECK', full, cached.result);
      if (out.exitCode !== 0) throw errorOf(out, `plugin ${list.plugins[i].type}`);
    }
  }

  /** Resolves when every plugin can take ADDs (NetworkReady); throws the first plugin's error otherwise. */
  async status(net: LoadedNetwork): Promise<void> {
    const { list } = net;
    if (!versionAtLeast(list.cniVersion, '1.1.0')) return;
    for (let i = 0; i < list.plugins.length; i++) {
      const out = await this.call(list, i, 'STATUS', undefined, undefined);
      if (out.exitCode !== 0) throw errorOf(out, `plugin ${list.plugins[i].type}`);
    }
  }

  /** Deletes cached attachments not in `valid`, then (CNI 1.1) asks each plugin to collect. */
  async gc(net: LoadedNetwork, valid: Array<{ containerId: string; ifname: string }>): Promise<void> {
    const { list } = net;
    const keep = new Set(valid.map((v) => `${v.containerId}\0${v.ifname}`));
    let first: Error | undefined;
    for (const c of this.cache.list(list.name)) {
      if (keep.has(`${c.containerId}\0${c.ifName}`)) continue;
      try {
        await this.del(net, { containerId: c.containerId, ifname: c.ifName, netns: c.netns && fs.existsSync(c.netns) ? c.netns : '' });
      } catch (err) {
        first ??= err as Error;
      }
    }
    if (versionAtLeast(list.cniVersion, '1.1.0') && !list.disableGC) {
      const attachments = valid.map((v) => ({ containerID: v.containerId, ifname: v.ifname }));
      for (let i = 0; i < list.plugins.length; i++) {
        const out = await this.call(list, i, 'GC', undefined, undefined, { [VALID_ATTACHMENTS_KEY]: attachments });
        if (out.exitCode !== 0) first ??= errorOf(out, `plugin ${list.plugins[i].type}`);
      }
    }
    if (first) throw first;
  }

  /** The cached result of an attachment (what berthd reports as the pod's IPs after a restart). */
  cachedResult(network: string, containerId: string, ifname: string): CachedAttachment | undefined {
    return this.cache.get(network, containerId, ifname);
  }
}
