/**
 * Command-line parsing for every binary, urfave/cli style (what runc and crictl accept): `--flag value`,
 * `--flag=value`, `-flag value`, `-f value`, booleans (`--flag`, `--flag=false`), repeatable list flags, `--`.
 * Flags may come before or after positional arguments; errors name the flag.
 */
import { invalid } from './errors';

export interface FlagSpec {
  name: string;
  short?: string;
  /** 'bool' takes no value; 'list' may repeat. */
  kind: 'bool' | 'string' | 'list';
  help: string;
  /** Shown in --help: `--name ARG`. */
  arg?: string;
}

export interface ParsedArgs {
  flags: Map<string, string | boolean | string[]>;
  positional: string[];
}

export interface ParseOptions {
  /** Everything after the first positional argument is positional too (`exec ID CMD ARGS…`). */
  stopAtFirstPositional?: boolean;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], options: ParseOptions = {}): ParsedArgs {
  const byKey = new Map<string, FlagSpec>();
  for (const s of specs) {
    byKey.set(`--${s.name}`, s);
    byKey.set(`-${s.name}`, s);
    if (s.short) byKey.set(`-${s.short}`, s);
  }
  const flags = new Map<string, string | boolean | string[]>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      if (options.stopAtFirstPositional) {
        positional.push(...argv.slice(i + 1));
        break;
      }
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
      continue;
    }
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw invalid(key, 'needs a value');
      value = argv[++i];
    }
    if (spec.kind === 'list') {
      const prev = flags.get(spec.name);
      flags.set(spec.name, [...(Array.isArray(prev) ? prev : []), value]);
    } else {
      flags.set(spec.name, value);
    }
  }
  return { flags, positional };
}

export function flagString(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function flagBool(p: ParsedArgs, name: string): boolean {
  return p.flags.get(name) === true;
}

export function flagList(p: ParsedArgs, name: string): string[] {
  const v = p.flags.get(name);
  return Array.isArray(v) ? v : [];
}

/** `--name ARG` as --help shows it. */
function flagUsage(s: FlagSpec, valueName: string): string {
  return `--${s.name}${s.kind === 'bool' ? '' : ` ${s.arg ?? valueName}`}`;
}

/** A whole --help text, runc style: usage, description, options. */
export function helpText(usage: string, description: string, specs: readonly FlagSpec[]): string {
  const lines = [`Usage: ${usage}`, '', description, ''];
  if (specs.length) {
    lines.push('Options:');
    for (const s of specs) lines.push(`  ${[s.short ? `-${s.short}` : '', flagUsage(s, 'value')].filter(Boolean).join(', ').padEnd(34)} ${s.help}`);
  }
  return lines.join('\n') + '\n';
}

/** The OPTIONS block of a --help text, crictl style. */
export function flagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => [`${s.short ? `-${s.short}, ` : '    '}${flagUsage(s, 'VALUE')}`, s.help]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([a, h]) => `   ${a.padEnd(w)}   ${h}`).join('\n');
}
