/** What a berthctl command is: its flags, its help, and what it does with a connected client. */
import { invalid } from '../../common/errors';
import type { FlagSpec, ParseOptions, ParsedArgs } from '../../common/args';
import type { CriClient } from './client';

export interface CommandContext {
  client: CriClient;
  args: ParsedArgs;
  /** Text, or bytes as they are (container logs, exec output). */
  stdout: (s: string | Uint8Array) => void;
  stderr: (s: string | Uint8Array) => void;
  /** stderr is a terminal (progress lines may be redrawn in place). */
  stderrIsTty: boolean;
}

export interface Command {
  name: string;
  aliases?: string[];
  usage: string;
  summary: string;
  flags: FlagSpec[];
  /** Which endpoint the command talks to: --image-endpoint's or --runtime-endpoint's. */
  service: 'image' | 'runtime';
  /** How its arguments are parsed (exec: everything after the container id is the command). */
  parse?: ParseOptions;
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

/**
 * `-aq` as `-a -q`, as crictl's short option handling reads it: only a word made entirely of short flags
 * (the last may take a value) is split; anything else is left for the parser to judge.
 */
export function expandShortFlags(argv: readonly string[], flags: readonly FlagSpec[], stopAtFirstPositional = false): string[] {
  const byShort = new Map(flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const byName = new Map(flags.flatMap((f) => [[`--${f.name}`, f], [`-${f.name}`, f], ...(f.short ? [[`-${f.short}`, f] as const] : [])]));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const letters = /^-([A-Za-z]{2,})$/.exec(a)?.[1].split('');
    if (letters && !byName.has(a)) {
      const specs = letters.map((l) => byShort.get(l));
      if (specs.every((s, j) => s && (s.kind === 'bool' || j === letters.length - 1))) {
        out.push(...letters.map((l) => `-${l}`));
        if (specs[specs.length - 1]!.kind !== 'bool' && i + 1 < argv.length) out.push(argv[++i]);
        continue;
      }
    }
    out.push(a);
    const spec = byName.get(a);
    if (spec && spec.kind !== 'bool' && i + 1 < argv.length) out.push(argv[++i]);
    else if (stopAtFirstPositional && !a.startsWith('-')) {
      out.push(...argv.slice(i + 1));
      break;
    }
  }
  return out;
}
