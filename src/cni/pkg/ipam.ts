/**
 * Delegating to the IPAM plugin a main plugin's config names (spec: "the IPAM plugin is invoked with the
 * same environment and the same config"): exec'd from CNI_PATH, or in-process when its type is in the
 * registry of our own plugins.
 */
import type { Env } from './env';
import { invalidConfig } from './errors';
import { expectSuccess, invokePlugin, resultOf, type PluginRegistry } from './invoke';
import type { CmdArgs } from './skel';
import type { Result } from './types';

/** The environment this plugin was called with, rebuilt from the parsed form, with `command`. */
export function envOf(args: CmdArgs, command: string): Env {
  const env: Env = { CNI_COMMAND: command, CNI_CONTAINERID: args.containerId, CNI_NETNS: args.netns, CNI_IFNAME: args.ifname, CNI_ARGS: args.argsRaw, CNI_PATH: args.path.join(':') };
  for (const k of Object.keys(env)) if (env[k] === '') delete env[k];
  if (process.env.PATH) env.PATH = process.env.PATH;
  return env;
}

export function ipamType(args: CmdArgs): string {
  const t = args.conf.ipam?.type;
  if (!t) throw invalidConfig('ipam.type', 'missing (required)');
  return t;
}

export async function ipamAdd(args: CmdArgs, registry: PluginRegistry): Promise<Result> {
  const type = ipamType(args);
  return resultOf(await invokePlugin(type, { env: envOf(args, 'ADD'), stdin: args.stdin }, registry), `IPAM plugin ${type}`);
}

/** ADD's counterpart; also CHECK, STATUS and GC, which return nothing. */
export async function ipamCall(args: CmdArgs, command: 'DEL' | 'CHECK' | 'STATUS' | 'GC', registry: PluginRegistry): Promise<void> {
  const type = ipamType(args);
  expectSuccess(await invokePlugin(type, { env: envOf(args, command), stdin: args.stdin }, registry), `IPAM plugin ${type}`);
}
