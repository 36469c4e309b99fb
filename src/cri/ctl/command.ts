/** What a berthctl command is: its flags, its help, and what it does with a connected client. */
import { invalid } from '../../common/errors';
import type { FlagSpec, ParsedArgs } from '../../common/args';
import type { CriClient } from './client';

export interface CommandContext {
  client: CriClient;
  args: ParsedArgs;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** stderr is a terminal (progress lines may be redrawn in place). */
  stderrIsTty: boolean;
}

export interface Command {
  name: string;
  aliases?: string[];
  usage: string;
  summary: string;
  flags: FlagSpec[];
  /** Returns the exit code. */
  run(ctx: CommandContext): Promise<number>;
}

export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', kind: 'bool', help: 'show help' };

export function outputFlag(def: string, formats: string[]): FlagSpec {
  return { name: 'output', short: 'o', kind: 'string', arg: 'FORMAT', help: `output format, one of: ${formats.join(', ')} (default ${def})` };
}

export function outputFormat(args: ParsedArgs, def: string, formats: string[]): string {
  const v = args.flags.get('output');
  const f = typeof v === 'string' ? v : def;
  if (!formats.includes(f)) throw invalid('--output', `unsupported format "${f}" (one of: ${formats.join(', ')})`);
  return f;
}
