/** exec: run another process in a running container, with runc's flags. */
import { parseJson } from '../../../common/json';
import * as fs from 'node:fs';
import { invalid } from '../../../common/errors';
import { validateProcess } from '../../spec/validate';
import { CAPABILITIES } from '../../spec/names';
import type { Process } from '../../spec/types';
import { flagBool, flagList, flagString, type ParsedArgs as Parsed } from '../../../common/args';
import { NotStarted, requireId, type Command } from '../command';
import { forwardSignals } from './lifecycle';

export const exec: Command = {
  name: 'exec',
  usage: 'berth-run exec [options] <container-id> <command> [args…]',
  description: 'Run a new process inside a running container.',
  stopAtFirstPositional: true,
  flags: [
    { name: 'process', short: 'p', kind: 'string', arg: 'FILE', help: 'process.json of the process to run (overrides the arguments)' },
    { name: 'tty', short: 't', kind: 'bool', help: 'allocate a pseudo-TTY (needs --console-socket)' },
    { name: 'detach', short: 'd', kind: 'bool', help: 'return once the process runs' },
    { name: 'pid-file', kind: 'string', arg: 'FILE', help: 'write the process id to FILE' },
    { name: 'console-socket', kind: 'string', arg: 'PATH', help: 'unix socket that receives the pty master' },
    { name: 'env', short: 'e', kind: 'list', arg: 'KEY=VALUE', help: 'set an environment variable (repeatable)' },
    { name: 'cwd', kind: 'string', arg: 'DIR', help: 'working directory in the container' },
    { name: 'user', short: 'u', kind: 'string', arg: 'UID[:GID]', help: 'run as this user' },
    { name: 'additional-gids', short: 'g', kind: 'list', arg: 'GID', help: 'additional group (repeatable)' },
    { name: 'cap', short: 'c', kind: 'list', arg: 'CAP', help: 'add a capability (repeatable)' },
    { name: 'no-new-privs', kind: 'bool', help: 'set no_new_privs for the process' },
    { name: 'apparmor', kind: 'string', arg: 'PROFILE', help: 'AppArmor profile for the process' },
    { name: 'process-label', kind: 'string', arg: 'LABEL', help: 'SELinux label for the process' },
    { name: 'preserve-fds', kind: 'string', arg: 'N', help: 'pass N extra file descriptors to the process' },
  ],
  async run({ runtime }, args) {
    const id = requireId(args, 'exec', 'any');
    const proc = execProcess(runtime.store.readSpec(id).process, args);
    const n = Number(flagString(args, 'preserve-fds') ?? '0');
    if (!Number.isInteger(n) || n < 0) throw invalid('--preserve-fds', 'must be a non-negative integer');
    const detach = flagBool(args, 'detach');
    let started: { pid: number; exited: Promise<number> };
    try {
      started = await runtime.exec(id, proc, {
        consoleSocket: flagString(args, 'console-socket'), pidFile: flagString(args, 'pid-file'), detach,
        preserveFds: Array.from({ length: n }, (_, i) => 3 + i),
      });
    } catch (err) {
      throw new NotStarted(err);
    }
    const { pid, exited } = started;
    if (detach) return 0;
    const stop = forwardSignals((sig) => { try { process.kill(pid, sig); } catch { /* exited */ } });
    try {
      return await exited;
    } finally {
      stop();
    }
  },
};

/** The exec'd process starts from the container's own process settings, changed by the flags (runc's rules). */
export function execProcess(base: Process | undefined, args: Parsed): Process {
  const file = flagString(args, 'process');
  if (file) {
    let raw: unknown;
    try {
      raw = parseJson(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw invalid('--process', `${file}: ${(err as Error).message}`);
    }
    return validateProcess(raw);
  }
  const argv = args.positional.slice(1);
  if (argv.length === 0) throw invalid('command', 'exec needs a command to run');
  const proc: Process = {
    args: argv,
    cwd: flagString(args, 'cwd') ?? base?.cwd ?? '/',
    env: [...(base?.env ?? []), ...flagList(args, 'env')],
    user: { ...(base?.user ?? { uid: 0, gid: 0 }) },
    terminal: flagBool(args, 'tty'),
    capabilities: base?.capabilities ? structuredClone(base.capabilities) : undefined,
    noNewPrivileges: flagBool(args, 'no-new-privs') || base?.noNewPrivileges,
    apparmorProfile: flagString(args, 'apparmor') ?? base?.apparmorProfile,
    selinuxLabel: flagString(args, 'process-label') ?? base?.selinuxLabel,
    rlimits: base?.rlimits,
  };
  if (!proc.cwd.startsWith('/')) throw invalid('--cwd', 'must be an absolute path');
  const user = flagString(args, 'user');
  if (user !== undefined) {
    const m = /^(\d+)(?::(\d+))?$/.exec(user);
    if (!m) throw invalid('--user', `"${user}" must be UID or UID:GID (numbers)`);
    proc.user = { uid: Number(m[1]), gid: m[2] !== undefined ? Number(m[2]) : 0 };
  }
  const gids = flagList(args, 'additional-gids').map((g) => {
    if (!/^\d+$/.test(g)) throw invalid('--additional-gids', `"${g}" is not a number`);
    return Number(g);
  });
  if (gids.length) proc.user.additionalGids = gids;
  for (const cap of flagList(args, 'cap')) {
    const name = cap.toUpperCase().startsWith('CAP_') ? cap.toUpperCase() : `CAP_${cap.toUpperCase()}`;
    if (!(name in CAPABILITIES)) throw invalid('--cap', `unknown capability "${cap}"`);
    const caps = (proc.capabilities ??= {});
    for (const set of ['bounding', 'effective', 'permitted'] as const) {
      caps[set] = [...new Set([...(caps[set] ?? []), name])];
    }
  }
  return proc;
}
