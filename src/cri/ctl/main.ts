/** berthctl: a crictl-like client of berthd. Global flags, then a command and its own flags. */
import { asBerthError, exitCodeOf, invalid } from '../../common/errors';
import { flagBool, flagHelp, flagString, parseArgs, type FlagSpec } from '../../common/args';
import { VERSION } from '../version';
import { CriClient, DEFAULT_ENDPOINT, RpcError } from './client';
import { expandShortFlags, type Command } from './command';
import { createCommand, inspectCommand, psCommand, rmCommand, startCommand, stopCommand } from './containers';
import { attachCommand, execCommand } from './exec';
import { imagesCommand, inspectiCommand, rmiCommand } from './images';
import { imagefsinfoCommand, infoCommand, versionCommand } from './info';
import { logsCommand } from './logs';
import { portForwardCommand } from './portforward';
import { inspectpCommand, podsCommand, rmpCommand, runpCommand, stoppCommand } from './pods';
import { parseDuration, pullCommand } from './pull';
import { statsCommand } from './stats';

const COMMANDS: Command[] = [
  attachCommand, createCommand, execCommand, imagesCommand, infoCommand, inspectCommand, inspectiCommand, imagefsinfoCommand,
  inspectpCommand, logsCommand, portForwardCommand, psCommand, pullCommand, runpCommand, rmCommand, rmiCommand, rmpCommand,
  podsCommand, startCommand, statsCommand, stopCommand, stoppCommand, versionCommand,
].sort((a, b) => (a.name < b.name ? -1 : 1));

/**
 * What a failed call of each command is reported as, as crictl words it. Commands that act on several ids
 * (start, stop, rm, stopp, rmp, exec) name the id in their own wording, and logs says nothing more, as crictl.
 */
const FAILING: Record<string, string> = {
  pull: 'pulling image',
  images: 'listing images',
  inspecti: 'image status',
  rmi: 'removing images',
  imagefsinfo: 'image filesystem info',
  version: 'getting the runtime version',
  info: 'getting status of runtime',
  runp: 'run pod sandbox',
  create: 'creating container',
  ps: 'listing containers',
  pods: 'listing pod sandboxes',
  inspect: 'get the status of containers',
  inspectp: 'get the status of pod sandboxes',
  stats: 'get container stats',
};

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'runtime-endpoint', short: 'r', kind: 'string', arg: 'ENDPOINT', help: `berthd's socket (default $CONTAINER_RUNTIME_ENDPOINT or ${DEFAULT_ENDPOINT})` },
  { name: 'image-endpoint', short: 'i', kind: 'string', arg: 'ENDPOINT', help: 'image service socket (default $IMAGE_SERVICE_ENDPOINT or the runtime endpoint)' },
  { name: 'timeout', short: 't', kind: 'string', arg: 'DURATION', help: 'connection timeout (default 2s); other calls but pull get 60 times as long' },
  { name: 'debug', short: 'D', kind: 'bool', help: 'print the stack of an error' },
  { name: 'version', short: 'v', kind: 'bool', help: 'print the version' },
  { name: 'help', short: 'h', kind: 'bool', help: 'show help' },
];

function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `berthctl — a crictl-like client for berthd's CRI services

usage: berthctl [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS...]

COMMANDS:
${COMMANDS.map((c) => `   ${c.name.padEnd(w)}   ${c.summary}`).join('\n')}

GLOBAL OPTIONS:
${flagHelp(GLOBAL_FLAGS)}

Run 'berthctl COMMAND --help' for a command's options.
`;
}

/** Global flags end at the first word that is not one of them: the command. */
function splitGlobal(argv: readonly string[]): { global: string[]; rest: string[] } {
  const withValue = new Set(GLOBAL_FLAGS.filter((f) => f.kind === 'string').flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]));
  let i = 0;
  while (i < argv.length && argv[i].startsWith('-')) {
    i += withValue.has(argv[i]) ? 2 : 1;
  }
  return { global: argv.slice(0, i), rest: argv.slice(i) };
}

export async function berthctlMain(argv: readonly string[]): Promise<number> {
  const out = (s: string | Uint8Array) => process.stdout.write(s);
  const err = (s: string | Uint8Array) => process.stderr.write(s);
  let debug = false;
  let command: Command | undefined;
  let client: CriClient | undefined;
  try {
    const { global, rest } = splitGlobal(argv);
    const g = parseArgs(global, GLOBAL_FLAGS);
    debug = flagBool(g, 'debug');
    if (flagBool(g, 'version')) {
      out(`berthctl version ${VERSION}\n`);
      return 0;
    }
    if (flagBool(g, 'help') || rest.length === 0 || rest[0] === 'help') {
      out(usage());
      return rest.length === 0 && !flagBool(g, 'help') ? 1 : 0;
    }
    command = COMMANDS.find((c) => c.name === rest[0] || c.aliases?.includes(rest[0]));
    if (!command) throw invalid(rest[0], `no such command (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    const words = expandShortFlags(rest.slice(1), command.flags, command.parse?.stopAtFirstPositional);
    const args = parseArgs(words, command.flags, command.parse);
    if (flagBool(args, 'help')) {
      out(`${command.summary}\n\nusage: ${command.usage}\n\nOPTIONS:\n${flagHelp(command.flags)}\n`);
      return 0;
    }
    const runtimeEndpoint = flagString(g, 'runtime-endpoint') ?? process.env.CONTAINER_RUNTIME_ENDPOINT ?? DEFAULT_ENDPOINT;
    const imageEndpoint = flagString(g, 'image-endpoint') ?? process.env.IMAGE_SERVICE_ENDPOINT ?? runtimeEndpoint;
    const connectMs = parseDuration(flagString(g, 'timeout') ?? '2s', '--timeout') || 2000;
    const endpoint = command.service === 'runtime' ? runtimeEndpoint : imageEndpoint;
    client = new CriClient(endpoint, connectMs, connectMs * 60);
    await client.connect();
    return await command.run({ client, args, stdout: out, stderr: err, stderrIsTty: process.stderr.isTTY === true });
  } catch (e) {
    const be = asBerthError(e);
    const what = command && e instanceof RpcError && FAILING[command.name] ? `${FAILING[command.name]}: ` : '';
    err(`berthctl: ${what}${be.message}\n`);
    if (debug && e instanceof Error && e.stack) err(`${e.stack}\n`);
    return exitCodeOf(be.kind);
  } finally {
    client?.close();
  }
}
