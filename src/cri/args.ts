/** Command-line parsing for berthd and berthctl: `--flag value`, `--flag=value`, `-f value`, booleans, `--`. */
import { invalid } from '../common/errors';

export interface FlagSpec {
  name: string;
  short?: string;
  kind: 'bool' | 'string';
  help: string;
  /** Shown in --help: `--name ARG`. */
  arg?: string;
}

export interface ParsedArgs {
  flags: Map<string, string | boolean>;
  positional: string[];
}

/** Flags may come before or after positional arguments, as with crictl (urfave/cli). */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byKey = new Map<string, FlagSpec>();
  for (const s of specs) {
    byKey.set(`--${s.name}`, s);
    if (s.short) byKey.set(`-${s.short}`, s);
  }
  const flags = new Map<string, string | boolean>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byKey.get(key);
    if (!spec) throw invalid(key, 'unknown flag (see --help)');
    if (spec.kind === 'bool') {
      const v = eq > 0 ? arg.slice(eq + 1) : 'true';
      if (v !== 'true' && v !== 'false') throw invalid(key, `expects true or false, got "${v}"`);
      flags.set(spec.name, v === 'true');
    } else if (eq > 0) {
      flags.set(spec.name, arg.slice(eq + 1));
    } else {
      if (i + 1 >= argv.length) throw invalid(key, 'needs a value');
      flags.set(spec.name, argv[++i]);
    }
  }
  return { flags, positional };
}

export function str(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function bool(p: ParsedArgs, name: string): boolean {
  return p.flags.get(name) === true;
}

/** The OPTIONS block of a --help text. */
export function flagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => [`${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.kind === 'string' ? ` ${s.arg ?? 'VALUE'}` : ''}`, s.help]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([a, h]) => `   ${a.padEnd(w)}   ${h}`).join('\n');
}
