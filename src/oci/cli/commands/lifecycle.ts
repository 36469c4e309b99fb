/** create, start, run, state, kill, delete: the lifecycle commands of runtime.md, with runc's flags. */
import * as path from 'node:path';
import { invalid } from '../../../common/errors';
import { flagBool, flagString, type FlagSpec, type ParsedArgs as Parsed } from '../../../common/args';
import { requireId, type Command } from '../command';
import type { CreateOptions } from '../../runtime/runtime';

const createFlags: FlagSpec[] = [
  { name: 'bundle', short: 'b', kind: 'string', arg: 'DIR', help: 'bundle directory (default: current directory)' },
  { name: 'console-socket', kind: 'string', arg: 'PATH', help: 'unix socket that receives the pty master when process.terminal is true' },
  { name: 'pid-file', kind: 'string', arg: 'FILE', help: 'write the container process id to FILE' },
  { name: 'no-pivot', kind: 'bool', help: 'use MS_MOVE and chroot instead of pivot_root (for ramdisk roots)' },
  { name: 'no-new-keyring', kind: 'bool', help: 'accepted for runc compatibility: the session keyring is inherited' },
  { name: 'preserve-fds', kind: 'string', arg: 'N', help: 'pass N extra file descriptors (3 … 3+N-1) to the container' },
];

export function createOptions(args: Parsed): CreateOptions {
  const n = flagString(args, 'preserve-fds');
  const count = n === undefined ? 0 : Number(n);
  if (!Number.isInteger(count) || count < 0 || count > 1000) throw invalid('--preserve-fds', `"${n}" is not a small non-negative integer`);
  return {
    bundle: path.resolve(flagString(args, 'bundle') ?? '.'),
    consoleSocket: flagString(args, 'console-socket'),
    pidFile: flagString(args, 'pid-file'),
    noPivot: flagBool(args, 'no-pivot'),
    preserveFds: Array.from({ length: count }, (_, i) => 3 + i),
  };
}

export const create: Command = {
  name: 'create',
  usage: 'berth-run create [options] <container-id>',
  description: 'Create a container from the bundle; its process waits until `berth-run start`.',
  flags: createFlags,
  async run({ runtime }, args) {
    await runtime.create(requireId(args, 'create'), createOptions(args));
    return 0;
  },
};

export const start: Command = {
  name: 'start',
  usage: 'berth-run start <container-id>',
  description: 'Run the user program of a created container.',
  flags: [],
  async run({ runtime }, args) {
    await runtime.start(requireId(args, 'start'));
    return 0;
  },
};

export const run: Command = {
  name: 'run',
  usage: 'berth-run run [options] <container-id>',
  description: 'Create and start a container; in the foreground, exit with its exit status.',
  flags: [...createFlags, { name: 'detach', short: 'd', kind: 'bool', help: 'return once the container runs' }],
  async run({ runtime }, args) {
    const id = requireId(args, 'run');
    const detach = flagBool(args, 'detach');
    const forward = detach ? undefined : forwardSignals((sig) => runtime.kill(id, sig).catch(() => undefined));
    try {
      return await runtime.run(id, { ...createOptions(args), detach });
    } finally {
      forward?.();
    }
  },
};

/** While the container runs in the foreground, signals sent to berth-run are passed on to it, as runc does. */
export function forwardSignals(send: (sig: NodeJS.Signals) => void): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
  const handler = (sig: NodeJS.Signals) => send(sig);
  for (const s of signals) process.on(s, handler);
  return () => { for (const s of signals) process.off(s, handler); };
}

export const state: Command = {
  name: 'state',
  usage: 'berth-run state <container-id>',
  description: 'Print the state of a container as JSON (runtime.md).',
  flags: [],
  async run({ runtime, out }, args) {
    const info = runtime.state(requireId(args, 'state'));
    out(JSON.stringify({ ...info, pid: info.pid ?? 0 }, null, 2) + '\n');
    return 0;
  },
};

export const kill: Command = {
  name: 'kill',
  usage: 'berth-run kill [options] <container-id> [signal]',
  description: 'Send a signal (default SIGTERM) to the container process.',
  flags: [{ name: 'all', short: 'a', kind: 'bool', help: 'signal every process in the container' }],
  async run({ runtime }, args) {
    const id = requireId(args, 'kill', 'optional');
    await runtime.kill(id, args.positional[1] ?? 'SIGTERM', flagBool(args, 'all'));
    return 0;
  },
};

export const del: Command = {
  name: 'delete',
  usage: 'berth-run delete [options] <container-id>',
  description: 'Delete a stopped container and everything it held (cgroup, state).',
  flags: [{ name: 'force', short: 'f', kind: 'bool', help: 'kill the container first if it is not stopped' }],
  async run({ runtime }, args) {
    await runtime.delete(requireId(args, 'delete'), flagBool(args, 'force'));
    return 0;
  },
};
