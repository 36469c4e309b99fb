/** berth-shim: the task API over berth-monitor, one per state directory. */
import { flagBool, flagString, helpText, parseArgs, type FlagSpec } from '../common/args';
import { asBerthError, exitCodeOf, invalid } from '../common/errors';
import { Logger, type LogLevel } from '../common/log';
import { runShim } from '../shim';

const FLAGS: FlagSpec[] = [
  { name: 'state', kind: 'string', arg: 'DIR', help: 'state directory: shim.sock, the containers\' records (required)' },
  { name: 'log-level', kind: 'string', arg: 'LEVEL', help: 'debug, info (default), warn or error' },
  { name: 'log', kind: 'string', arg: 'FILE', help: 'write the JSON log there instead of stderr' },
  { name: 'help', short: 'h', kind: 'bool', help: 'show this help' },
];

const DESCRIPTION = `Serves the task API (src/shim/proto/task.proto) on DIR/shim.sock (root only), over one berth-monitor per
container or exec process. Containers, their monitors and their logs carry on when berth-shim stops or dies;
a new berth-shim on the same DIR re-adopts them and reports the exits that happened meanwhile.`;

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function main(argv: string[]): void {
  const usage = helpText('berth-shim --state DIR [options]', DESCRIPTION, FLAGS);
  let state: string | undefined;
  let level: LogLevel;
  let logFile: string | undefined;
  try {
    const args = parseArgs(argv, FLAGS);
    if (flagBool(args, 'help')) {
      process.stdout.write(usage);
      return;
    }
    if (args.positional.length > 0) throw invalid(args.positional[0], 'unexpected argument');
    state = flagString(args, 'state');
    if (!state) throw invalid('--state', 'is required');
    level = (flagString(args, 'log-level') ?? 'info') as LogLevel;
    if (!LEVELS.includes(level)) throw invalid('--log-level', `must be one of ${LEVELS.join(', ')}, got "${level}"`);
    logFile = flagString(args, 'log');
  } catch (err) {
    process.stderr.write(`berth-shim: ${asBerthError(err).message}\n${usage}`);
    process.exitCode = 2;
    return;
  }
  const log = new Logger({ level, destination: logFile ?? 2, fields: { component: 'berth-shim' } });
  runShim(state, log).catch((err) => {
    const e = asBerthError(err);
    log.error('berth-shim failed', { error: e.message });
    process.stderr.write(`berth-shim: ${e.message}\n`);
    process.exit(exitCodeOf(e.kind));
  });
}

main(process.argv.slice(2));
