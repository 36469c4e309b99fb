import type { Logger } from '../../common/log';
import type { Runtime } from '../runtime/runtime';
import type { FlagSpec, ParsedArgs as Parsed } from '../../common/args';
import { invalid } from '../../common/errors';

/**
 * A process that could not be started: runc exits 255 then, so that callers can tell it from the process's own
 * status; the error still goes to stderr and to --log like any other.
 */
export class NotStarted extends Error {
  constructor(readonly reason: unknown) {
    super(reason instanceof Error ? reason.message : String(reason));
  }
}

export interface Context {
  runtime: Runtime;
  log: Logger;
  out: (text: string) => void;
}

export interface Command {
  name: string;
  aliases?: string[];
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** exec: arguments after the container id belong to the process. */
  stopAtFirstPositional?: boolean;
  run(ctx: Context, args: Parsed): Promise<number>;
}

/** The container id every command but list/features/spec takes, checked for count. */
export function requireId(args: Parsed, command: string, extra: 'none' | 'optional' | 'any' = 'none'): string {
  const [id, ...rest] = args.positional;
  if (!id) throw invalid('container id', `"${command}" requires a container id`);
  if (extra === 'none' && rest.length > 0) throw invalid(rest[0], `unexpected argument to "${command}"`);
  if (extra === 'optional' && rest.length > 1) throw invalid(rest[1], `unexpected argument to "${command}"`);
  return id;
}
