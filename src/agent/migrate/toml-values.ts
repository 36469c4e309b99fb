/**
 * Enough TOML to read what a migration carries over from containerd (certs.d hosts.toml, the CRI plugin's
 * registry tables): tables with quoted or dotted keys, and strings, booleans, numbers and one-line or
 * multi-line arrays of those as values. Whatever else the file holds (inline tables, dates, multi-line
 * strings) is skipped, not guessed at: those keys are not ones the migration reads.
 * agent/containerd/toml.ts scans a config's layout to edit it in place; this reads values.
 */
export type TomlValue = string | boolean | number | TomlValue[];
/** Table path (its keys, unquoted, joined with NUL: a key may hold dots) → its keys (likewise) and values. */
export type TomlTables = Map<string, Map<string, TomlValue>>;
export const SEP = '\0';

/** Splits `a."b.c".d` into ['a', 'b.c', 'd']. */
export function splitKey(key: string): string[] {
  const parts: string[] = [];
  for (const m of key.matchAll(/\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/g)) parts.push(m[1] ?? m[2] ?? m[3]);
  return parts;
}

/** Removes a `#` comment that is not inside a string. */
function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') return line.slice(0, i);
  }
  return line;
}

function scalar(s: string): TomlValue | undefined {
  const t = s.trim();
  if (/^"(?:[^"\\]|\\.)*"$/.test(t)) return JSON.parse(t) as string;
  if (/^'[^']*'$/.test(t)) return t.slice(1, -1);
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^[+-]?\d+(\.\d+)?$/.test(t)) return Number(t);
  if (t.startsWith('[') && t.endsWith(']')) {
    const inner = t.slice(1, -1).trim();
    if (inner === '') return [];
    const items = inner.match(/"(?:[^"\\]|\\.)*"|'[^']*'|[^,\s]+/g) ?? [];
    const values = items.map(scalar);
    return values.every((v) => v !== undefined) ? (values as TomlValue[]) : undefined;
  }
  return undefined;
}

/** The file's tables; the root table is ''. */
export function readTomlTables(text: string): TomlTables {
  const tables: TomlTables = new Map([['', new Map()]]);
  let current = tables.get('')!;
  let pending: { key: string; text: string } | undefined;
  for (const raw of text.split('\n')) {
    const line = stripComment(raw).trim();
    if (pending) {
      pending.text += ` ${line}`;
      if (!line.includes(']')) continue;
      const v = scalar(pending.text);
      if (v !== undefined) current.set(pending.key, v);
      pending = undefined;
      continue;
    }
    if (line === '') continue;
    const header = /^\[([^[\]]+)\]$/.exec(line);
    if (header) {
      const name = splitKey(header[1]).join(SEP);
      current = tables.get(name) ?? new Map();
      tables.set(name, current);
      continue;
    }
    const kv = /^((?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_.-]+)(?:\s*\.\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=\s*(.*)$/.exec(line);
    if (!kv) continue;
    const key = splitKey(kv[1]).join(SEP);
    if (kv[2].startsWith('[') && !kv[2].includes(']')) {
      pending = { key, text: kv[2] };
      continue;
    }
    const v = scalar(kv[2]);
    if (v !== undefined) current.set(key, v);
  }
  return tables;
}
