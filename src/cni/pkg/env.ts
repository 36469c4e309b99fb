/**
 * The CNI_* environment: which variables each command needs, their validation (the spec's code 4, or 3 for a
 * missing container ID), and CNI_ARGS ("K=V;K2=V2").
 */
import { CniCode, CniError, invalidEnv } from './errors';
import { CONTAINER_ID_RE, interfaceNameProblem } from './validate';

export type Command = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
export const COMMANDS: readonly Command[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];

export type Env = Record<string, string | undefined>;

export interface CniEnv {
  command: Command;
  /** Empty for STATUS, GC and VERSION. */
  containerId: string;
  /** Empty when not given (DEL may omit it). */
  netns: string;
  ifname: string;
  /** CNI_ARGS as given. */
  argsRaw: string;
  /** CNI_ARGS as pairs, in order. */
  args: Array<[string, string]>;
  /** CNI_PATH split on ":" (empty entries dropped). */
  path: string[];
}

const REQUIRED: Record<Command, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  STATUS: [],
  GC: [],
  VERSION: [],
};

export function parseCommand(env: Env): Command {
  const cmd = env.CNI_COMMAND;
  if (cmd === undefined || cmd === '') throw invalidEnv('CNI_COMMAND', 'required env variables [CNI_COMMAND] missing');
  if (!(COMMANDS as readonly string[]).includes(cmd)) throw invalidEnv('CNI_COMMAND', `unknown CNI_COMMAND: ${cmd}`);
  return cmd as Command;
}

/** Parses "K=V;K2=V2" (empty string → no pairs). */
export function parseCniArgs(raw: string): Array<[string, string]> {
  if (raw === '') return [];
  return raw.split(';').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalidEnv('CNI_ARGS', `invalid CNI_ARGS pair ${JSON.stringify(pair)}: want KEY=VALUE`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}

/**
 * Reads CNI_ARGS against the keys a plugin knows (`IgnoreUnknown` is always known): an unknown key is an
 * error unless IgnoreUnknown is "1" or "true", as libcni's LoadArgs has it.
 */
export function knownArgs(pairs: Array<[string, string]>, known: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const ignore = pairs.some(([k, v]) => k === 'IgnoreUnknown' && (v === '1' || v.toLowerCase() === 'true'));
  const unknown: string[] = [];
  for (const [k, v] of pairs) {
    if (k === 'IgnoreUnknown') continue;
    if (known.includes(k)) out[k] = v;
    else unknown.push(`${k}=${v}`);
  }
  if (unknown.length > 0 && !ignore) throw invalidEnv('CNI_ARGS', `unknown args ${JSON.stringify(unknown)}`);
  return out;
}

export function parseEnv(env: Env): CniEnv {
  const command = parseCommand(env);
  const missing = REQUIRED[command].filter((k) => !env[k]);
  if (missing.length > 0) throw invalidEnv(missing[0], `required env variables [${missing.join(',')}] missing`);
  const containerId = env.CNI_CONTAINERID ?? '';
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    if (!CONTAINER_ID_RE.test(containerId)) {
      throw new CniError(CniCode.InvalidEnvironment, 'InvalidArgument', 'invalid characters in containerID', { field: 'CNI_CONTAINERID', details: containerId });
    }
  }
  const ifname = env.CNI_IFNAME ?? '';
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    const problem = interfaceNameProblem(ifname);
    if (problem) throw invalidEnv('CNI_IFNAME', `interface name ${JSON.stringify(ifname)} ${problem}`);
  }
  const argsRaw = env.CNI_ARGS ?? '';
  return {
    command,
    containerId,
    netns: env.CNI_NETNS ?? '',
    ifname,
    argsRaw,
    args: parseCniArgs(argsRaw),
    path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
  };
}
