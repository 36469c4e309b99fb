/** berth-shim: the task API over berth-monitor, one per state directory. */
import { asBerthError, exitCodeOf } from '../common/errors';
import { Logger, type LogLevel } from '../common/log';
import { runShim } from '../shim/daemon';

const USAGE = `usage: berth-shim --state DIR [--log-level debug|info|warn|error] [--log FILE]
Serves the task API (src/shim/proto/task.proto) on DIR/shim.sock (root only), over one berth-monitor per
container or exec process. Containers, their monitors and their logs carry on when berth-shim stops or dies;
a new berth-shim on the same DIR re-adopts them and reports the exits that happened meanwhile.
`;

function main(argv: string[]): void {
  let state: string | undefined;
  let level: LogLevel = 'info';
  let logFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return;
    }
    if (a === '--state' && argv[i + 1]) state = argv[++i];
    else if (a === '--log-level' && ['debug', 'info', 'warn', 'error'].includes(argv[i + 1])) level = argv[++i] as LogLevel;
    else if (a === '--log' && argv[i + 1]) logFile = argv[++i];
    else {
      process.stderr.write(`berth-shim: unknown or incomplete argument ${JSON.stringify(a)}\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
  }
  if (!state) {
    process.stderr.write(`berth-shim: --state is required\n${USAGE}`);
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
