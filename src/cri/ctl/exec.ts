/**
 * `berthctl exec` and `attach`, as crictl's: without --sync, exec is the Exec RPC and a streaming session on
 * the URL it answers with (crictl's default too), with stdin (-i), a tty (-t: raw mode, resizes) and the
 * command's exit code as berthctl's; `--sync` is ExecSync. attach is the Attach RPC and the same session.
 */
import type { Readable } from 'node:stream';
import { BerthError, invalid } from '../../common/errors';
import { flagBool, type ParsedArgs } from '../../common/args';
import type { ExecSyncResponse } from '../types';
import { RpcError, during, within, type CriClient } from './client';
import { HELP_FLAG, type Command } from './command';
import { intFlag } from './listing';
import { STREAMING_FLAGS, streamingUrl, transportOf, type Transport } from './stream-dial';
import { streamRemoteCommand } from './stream-remotecommand';
import { DetachKeys, isTerminal, watchTerminalSize, withRawMode } from './terminal';

interface SessionOptions {
  transport: Transport;
  stdin: boolean;
  tty: boolean;
}

/** crictl's checks on -t, made before the RPC so that no exec is left waiting for a client that never comes. */
function checkTty(o: SessionOptions): void {
  if (!o.tty) return;
  if (!o.stdin) throw new BerthError('InvalidArgument', 'tty=true must be specified with interactive=true');
  if (!isTerminal(process.stdin)) throw new BerthError('InvalidArgument', 'input is not a terminal');
}

/** The streaming session on `url` with this process's stdio; resolves with the remote exit code. */
async function runSession(url: string, o: SessionOptions): Promise<number> {
  const detach = new AbortController();
  let stdin: Readable | undefined;
  if (o.stdin && o.tty) {
    const keys = new DetachKeys();
    keys.once('detach', () => detach.abort());
    stdin = process.stdin.pipe(keys);
  } else if (o.stdin) stdin = process.stdin;
  const session = (): Promise<number> => streamRemoteCommand({
    url: streamingUrl(url),
    transport: o.transport,
    stdin,
    stdout: process.stdout,
    stderr: o.tty ? undefined : process.stderr,
    tty: o.tty,
    sizes: o.tty ? (l) => watchTerminalSize(process.stdout, l) : undefined,
    detach: detach.signal,
  });
  try {
    return await (o.tty ? withRawMode(process.stdin, session) : session());
  } finally {
    // Input nobody will send any more must not keep berthctl alive.
    if (o.stdin) process.stdin.pause();
  }
}

function sessionOptions(args: ParsedArgs, stdinFlag: string): SessionOptions {
  return { transport: transportOf(args), stdin: flagBool(args, stdinFlag), tty: flagBool(args, 'tty') };
}

interface StreamRequest {
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** As crictl asks: stdout always, stderr apart unless there is a terminal (which has one output). */
const streams = (id: string, o: SessionOptions): StreamRequest => ({ containerId: id, tty: o.tty, stdin: o.stdin, stdout: true, stderr: !o.tty });

async function execSync(client: CriClient, id: string, cmd: string[], timeout: number, stdout: (s: Uint8Array) => void, stderr: (s: Uint8Array) => void): Promise<number> {
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
}

export const execCommand: Command = {
  name: 'exec',
  service: 'runtime',
  usage: 'berthctl exec [OPTIONS] CONTAINER-ID COMMAND [ARG...]',
  summary: 'Run a command in a running container (berthctl exits with its status)',
  flags: [
    { name: 'sync', short: 's', kind: 'bool', help: 'Run the command synchronously (ExecSync: no stdin, no tty)' },
    { name: 'timeout', kind: 'string', arg: 'SECONDS', help: 'Timeout in seconds, with --sync (default 0: no limit)' },
    { name: 'tty', short: 't', kind: 'bool', help: 'Allocate a pseudo-TTY (needs -i and a terminal on stdin; ctrl-p,ctrl-q detaches)' },
    { name: 'interactive', short: 'i', kind: 'bool', help: 'Keep STDIN open' },
    ...STREAMING_FLAGS,
    HELP_FLAG,
  ],
  // Everything after the container id is the command and its own flags.
  parse: { stopAtFirstPositional: true },
  async run({ client, args, stdout, stderr }) {
    if (args.positional.length < 2) throw invalid('COMMAND', 'exec takes a container id and a command');
    const [id, ...cmd] = args.positional;
    if (flagBool(args, 'sync')) return execSync(client, id, cmd, intFlag(args, 'timeout'), stdout, stderr);
    const o = sessionOptions(args, 'interactive');
    const step = `execing command in container ${id}`;
    return within(step, (async () => {
      checkTty(o);
      const res = await client.runtimeCall<unknown, { url: string }>('Exec', { ...streams(id, o), cmd });
      return runSession(res.url, o);
    })());
  },
};

export const attachCommand: Command = {
  name: 'attach',
  service: 'runtime',
  usage: 'berthctl attach [OPTIONS] CONTAINER-ID',
  summary: 'Attach to a running container',
  flags: [
    { name: 'tty', short: 't', kind: 'bool', help: 'Allocate a pseudo-TTY (for a container with one; needs -i and a terminal on stdin; ctrl-p,ctrl-q detaches)' },
    { name: 'stdin', short: 'i', kind: 'bool', help: 'Keep STDIN open' },
    ...STREAMING_FLAGS,
    HELP_FLAG,
  ],
  async run({ client, args }) {
    const id = args.positional[0];
    if (!id) throw invalid('CONTAINER-ID', 'ID cannot be empty');
    if (args.positional.length !== 1) throw invalid('CONTAINER-ID', 'attach takes exactly one container id');
    const o = sessionOptions(args, 'stdin');
    return within('attaching running container failed', (async () => {
      checkTty(o);
      const res = await client.runtimeCall<unknown, { url: string }>('Attach', streams(id, o));
      await runSession(res.url, o);
      return 0;
    })());
  },
};
