/** berth-run: a runc-compatible command line over the berth-run library. */
import { asBerthError, exitCodeOf, invalid } from '../../common/errors';
import { Logger, type LogFormat } from '../../common/log';
import { DEFAULT_ROOT, Runtime } from '../runtime/runtime';
import { flagBool, flagString, helpText, parseArgs, type FlagSpec } from '../../common/args';
import { NotStarted, type Command } from './command';
import { exec } from './commands/exec';
import { del, create, kill, run, start, state } from './commands/lifecycle';
import { events, features, list, ps, spec } from './commands/info';
import { pause, resume, update } from './commands/control';
import { VERSION } from './version';
import { writeErr, writeOut } from './output';

const commands: Command[] = [create, start, run, state, kill, del, exec, ps, list, pause, resume, update, events, features, spec];

const globalFlags: FlagSpec[] = [
  { name: 'root', kind: 'string', arg: 'DIR', help: `directory for container state (default ${DEFAULT_ROOT})` },
  { name: 'log', kind: 'string', arg: 'FILE', help: 'append logs to FILE (default stderr)' },
  { name: 'log-format', kind: 'string', arg: 'text|json', help: 'log format (default text)' },
  { name: 'debug', kind: 'bool', help: 'log debug messages' },
  { name: 'systemd-cgroup', kind: 'bool', help: 'manage cgroups as systemd transient scopes; cgroupsPath is "slice:prefix:name"' },
  { name: 'rootless', kind: 'string', arg: 'true|false|auto', help: 'accepted for runc compatibility; only "false" and "auto" (as root) work' },
  { name: 'criu', kind: 'string', arg: 'PATH', help: 'accepted for runc compatibility; checkpointing is not supported' },
  { name: 'help', short: 'h', kind: 'bool', help: 'show help' },
  { name: 'version', short: 'v', kind: 'bool', help: 'print the version' },
];

const usage = helpText('berth-run [global options] <command> [options] [arguments]', [
  'berth-run is an OCI runtime (runtime-spec 1.0 - 1.3) with runc\'s command line.',
  '',
  'Commands:',
  ...commands.map((c) => `  ${c.name.padEnd(10)} ${c.description}`),
].join('\n'), globalFlags);

export async function main(argv: string[]): Promise<number> {
  // Global flags come before the command name.
  let i = 0;
  while (i < argv.length && argv[i].startsWith('-')) {
    const spec = globalFlags.find((f) => argv[i] === `--${f.name}` || argv[i] === `-${f.name}` || (f.short && argv[i] === `-${f.short}`) || argv[i].startsWith(`--${f.name}=`));
    i += spec && spec.kind !== 'bool' && !argv[i].includes('=') ? 2 : 1;
  }
  let log = new Logger({ format: 'text', destination: 2 });
  try {
    const global = parseArgs(argv.slice(0, i), globalFlags);
    const format = (flagString(global, 'log-format') ?? 'text') as LogFormat;
    if (format !== 'text' && format !== 'json') throw invalid('--log-format', `unknown format "${format}"`);
    log = new Logger({ format, level: flagBool(global, 'debug') ? 'debug' : 'warn', destination: flagString(global, 'log') ?? 2 });
    if (flagBool(global, 'version')) {
      writeOut(`berth-run version ${VERSION}\nspec: 1.3.0\n`);
      return 0;
    }
    const name = argv[i];
    if (flagBool(global, 'help') || name === undefined || name === 'help') {
      writeOut(usage);
      return name === undefined && !flagBool(global, 'help') ? 1 : 0;
    }
    const rootless = flagString(global, 'rootless');
    if (rootless !== undefined && rootless !== 'false' && rootless !== 'auto') throw invalid('--rootless', 'rootless containers are not supported');
    const command = commands.find((c) => c.name === name || c.aliases?.includes(name));
    if (!command) throw invalid(name, 'unknown command (see berth-run --help)');
    const rest = argv.slice(i + 1);
    if (rest.includes('--help') || rest.includes('-h')) {
      if (!command.stopAtFirstPositional || rest.indexOf('--help') < firstPositional(rest)) {
        writeOut(helpText(command.usage, command.description, command.flags));
        return 0;
      }
    }
    const args = parseArgs(rest, command.flags, { stopAtFirstPositional: command.stopAtFirstPositional });
    const runtime = new Runtime({ root: flagString(global, 'root'), logger: log, cgroupDriver: flagBool(global, 'systemd-cgroup') ? 'systemd' : 'cgroupfs' });
    return await command.run({ runtime, log, out: writeOut }, args);
  } catch (err) {
    const e = asBerthError(err instanceof NotStarted ? err.reason : err);
    // Like runc: the plain message on stderr for people, a structured entry in --log for shims.
    if (flagStringSafe(argv.slice(0, i), 'log')) log.error(e.message, { kind: e.kind, ...(e.field ? { field: e.field } : {}) });
    writeErr(`${e.message}\n`);
    return err instanceof NotStarted ? 255 : exitCodeOf(e.kind);
  }
}

function firstPositional(args: string[]): number {
  const idx = args.findIndex((a) => !a.startsWith('-'));
  return idx < 0 ? args.length : idx;
}

function flagStringSafe(argv: string[], name: string): boolean {
  return argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`) || a === `-${name}`);
}
