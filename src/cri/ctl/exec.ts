/**
 * `berthctl exec`, `attach`, `port-forward`: crictl's streaming commands. berthd has no streaming server yet,
 * so exec runs through ExecSync (with or without --sync) and attach and port-forward say they cannot work.
 */
import { BerthError, invalid } from '../../common/errors';
import { flagBool, type FlagSpec } from '../../common/args';
import type { ExecSyncResponse } from '../types';
import { RpcError, during } from './client';
import { HELP_FLAG, type Command } from './command';
import { intFlag } from './listing';

const STREAMING_FLAGS: FlagSpec[] = [
  { name: 'transport', short: 'r', kind: 'string', arg: 'PROTOCOL', help: 'streaming transport, spdy or websocket (unused until streaming exists)' },
  { name: 'tls-sni', kind: 'string', arg: 'NAME', help: 'server name the streaming TLS client checks (unused until streaming exists)' },
  { name: 'tls-ca', kind: 'string', arg: 'FILE', help: 'streaming TLS CA certificate (unused until streaming exists)' },
  { name: 'tls-cert', kind: 'string', arg: 'FILE', help: 'streaming TLS certificate (unused until streaming exists)' },
  { name: 'tls-key', kind: 'string', arg: 'FILE', help: 'streaming TLS key (unused until streaming exists)' },
];

const needsStreaming = (what: string) => new BerthError('Unimplemented', `${what}: not supported yet: needs the streaming server`);

export const execCommand: Command = {
  name: 'exec',
  service: 'runtime',
  usage: 'berthctl exec [OPTIONS] CONTAINER-ID COMMAND [ARG...]',
  summary: 'Run a command in a running container (through ExecSync for now: without --sync too, and without stdin or a tty)',
  flags: [
    { name: 'sync', short: 's', kind: 'bool', help: 'run the command synchronously (the only way until the streaming server exists: also the default)' },
    { name: 'timeout', kind: 'string', arg: 'SECONDS', help: 'stop the command after this many seconds (default 0: no limit)' },
    { name: 'tty', short: 't', kind: 'bool', help: 'allocate a pseudo-TTY (needs the streaming server: not supported yet)' },
    { name: 'interactive', short: 'i', kind: 'bool', help: 'keep STDIN open (needs the streaming server: not supported yet)' },
    ...STREAMING_FLAGS,
    HELP_FLAG,
  ],
  // Everything after the container id is the command and its own flags.
  parse: { stopAtFirstPositional: true },
  async run({ client, args, stdout, stderr }) {
    if (args.positional.length < 2) throw invalid('COMMAND', 'exec takes a container id and a command');
    if (flagBool(args, 'tty') || flagBool(args, 'interactive')) throw needsStreaming('exec --tty/--interactive');
    const [id, ...cmd] = args.positional;
    const timeout = intFlag(args, 'timeout');
    // As crictl's client: no deadline without --timeout, else the command's time plus the usual one.
    const timeoutMs = timeout > 0 ? client.callTimeoutMs + timeout * 1000 : 0;
    let res: ExecSyncResponse;
    try {
      res = await during(`execing command in container ${id} synchronously`, client.runtimeCall<unknown, ExecSyncResponse>('ExecSync', { containerId: id, cmd, timeout }, { timeoutMs }));
    } catch (err) {
      if (err instanceof RpcError && err.code === 4) {
        throw new BerthError('DeadlineExceeded', `execing command in container ${id} synchronously: command timed out: ${JSON.stringify(cmd.join(' '))} timed out after ${timeout}s`);
      }
      throw err;
    }
    stdout(res.stdout);
    stderr(res.stderr);
    // The command's own status, which a shell script calling berthctl can act on.
    return res.exitCode;
  },
};

export const attachCommand: Command = {
  name: 'attach',
  service: 'runtime',
  usage: 'berthctl attach [OPTIONS] CONTAINER-ID',
  summary: 'Attach to a running container (not supported yet: needs the streaming server)',
  flags: [
    { name: 'tty', short: 't', kind: 'bool', help: 'allocate a pseudo-TTY' },
    { name: 'stdin', short: 'i', kind: 'bool', help: 'keep STDIN open' },
    ...STREAMING_FLAGS,
    HELP_FLAG,
  ],
  run() {
    return Promise.reject(needsStreaming('attach'));
  },
};

export const portForwardCommand: Command = {
  name: 'port-forward',
  service: 'runtime',
  usage: 'berthctl port-forward [OPTIONS] POD-ID [LOCAL_PORT:]REMOTE_PORT',
  summary: 'Forward local port to a pod (not supported yet: needs the streaming server)',
  flags: [...STREAMING_FLAGS, HELP_FLAG],
  run() {
    return Promise.reject(needsStreaming('port-forward'));
  },
};
