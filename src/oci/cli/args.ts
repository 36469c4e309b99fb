/** A small, strict parser for runc-style command lines: `--flag value`, `--flag=value`, `-f value`, booleans, `--`. */
import { invalid } from '../../common/errors';

export interface FlagSpec {
  name: string;
  short?: string;
  /** 'bool' takes no value; 'list' may repeat. */
  kind: 'bool' | 'string' | 'list';
  help: string;
  arg?: string;
}

export interface Parsed {
  flags: Map<string, string | boolean | string[]>;
  positional: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], stopAtFirstPositional = false): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(`--${s.name}`, s);
    // runc accepts single-dash long flags too (urfave/cli), e.g. `-bundle`.
    byName.set(`-${s.name}`, s);
    if (s.short) byName.set(`-${s.short}`, s);
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
      // For `exec ID CMD…`, everything after the first positional belongs to the command.
      if (stopAtFirstPositional) {
        positional.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    const eq = arg.indexOf('=');
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(key);
    if (!spec) throw invalid(key, 'unknown flag (see --help)');
    if (spec.kind === 'bool') {
      flags.set(spec.name, eq > 0 ? arg.slice(eq + 1) !== 'false' : true);
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

export function flagString(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function flagBool(p: Parsed, name: string): boolean {
  return p.flags.get(name) === true;
}

export function flagList(p: Parsed, name: string): string[] {
  const v = p.flags.get(name);
  return Array.isArray(v) ? v : [];
}

export function helpText(usage: string, description: string, specs: readonly FlagSpec[]): string {
  const lines = [`Usage: ${usage}`, '', description, ''];
  if (specs.length) {
    lines.push('Options:');
    for (const s of specs) {
      const names = [s.short ? `-${s.short}` : '', `--${s.name}${s.kind === 'bool' ? '' : ` ${s.arg ?? 'value'}`}`].filter(Boolean).join(', ');
      lines.push(`  ${names.padEnd(34)} ${s.help}`);
    }
  }
  return lines.join('\n') + '\n';
}
