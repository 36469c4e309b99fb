/**
 * The little TOML that editing containerd's config in place needs, with no TOML library: quoting strings and
 * keys for what we write, and a scanner for what we read — the top-level key/value entries before the first
 * table (where `version` and `imports` live), the table headers, and the elements of a string array, each with
 * its byte span, so that an edit changes only the bytes it means to and leaves comments and layout alone.
 */

/** A TOML basic string: `"` and `\` escaped, control characters as \b \t \n \f \r or \uXXXX. */
export function tomlString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A key: bare when TOML allows it (A-Za-z0-9_-), quoted otherwise. */
export function tomlKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : tomlString(k);
}

/** A dotted key path, each part quoted as needed: `plugins."io.containerd.grpc.v1.cri".containerd`. */
export function tomlPath(parts: readonly string[]): string {
  return parts.map(tomlKey).join('.');
}

export class TomlScanError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'TomlScanError';
  }
}

/** A top-level `key = value` entry: key parts decoded; offsets into the text. */
export interface TopLevelEntry {
  readonly key: readonly string[];
  /** Where the line holding the key starts. */
  readonly lineStart: number;
  readonly valueStart: number;
  readonly valueEnd: number;
  /** Just past the entry's line end (its newline included, when there is one). */
  readonly lineEnd: number;
}

export interface TableHeader {
  readonly path: readonly string[];
  readonly array: boolean;
  readonly lineStart: number;
  readonly lineEnd: number;
}

export interface TomlLayout {
  readonly entries: readonly TopLevelEntry[];
  /** Offset of the line of the first table header (text length when there is none). */
  readonly tablesStart: number;
  readonly headers: readonly TableHeader[];
}

/** One element of an array value; `value` is set for string elements. */
export interface ArrayElement {
  readonly start: number;
  readonly end: number;
  readonly value?: string;
}

export interface ArrayValue {
  readonly open: number;
  readonly close: number;
  readonly elements: readonly ArrayElement[];
}

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  c(): string {
    return this.text[this.pos] ?? '';
  }

  fail(message: string): never {
    const line = this.text.slice(0, this.pos).split('\n').length;
    throw new TomlScanError(`line ${line}: ${message}`, this.pos);
  }

  skipSpaces(): void {
    while (this.c() === ' ' || this.c() === '\t') this.pos++;
  }

  skipComment(): void {
    if (this.c() === '#') while (this.pos < this.text.length && this.c() !== '\n') this.pos++;
  }

  /** Spaces, newlines and comments. */
  skipBlank(): void {
    for (;;) {
      this.skipSpaces();
      this.skipComment();
      if (this.c() === '\n' || this.c() === '\r') this.pos++;
      else return;
    }
  }

  /** Past the rest of a line that must hold only spaces and a comment. */
  endLine(): void {
    this.skipSpaces();
    this.skipComment();
    if (this.c() === '\r') this.pos++;
    if (this.c() === '\n') this.pos++;
    else if (this.pos < this.text.length) this.fail(`unexpected ${JSON.stringify(this.c())} after a value`);
  }

  lineStartOf(offset: number): number {
    return this.text.lastIndexOf('\n', offset - 1) + 1;
  }

  /** A basic or literal string (single- or multi-line); returns its decoded value. */
  string(): string {
    const t = this.text;
    if (t.startsWith('"""', this.pos) || t.startsWith("'''", this.pos)) {
      const q = t.slice(this.pos, this.pos + 3);
      this.pos += 3;
      let out = '';
      for (;;) {
        if (this.pos >= t.length) this.fail('unterminated multi-line string');
        if (t.startsWith(q, this.pos)) {
          // Up to two quotes may end the content right before the closing delimiter.
          let n = 3;
          while (t[this.pos + n] === q[0] && n < 5) n++;
          out += q[0].repeat(n - 3);
          this.pos += n;
          return out.replace(/^\r?\n/, '');
        }
        if (q === '"""' && this.c() === '\\') out += this.escape(true);
        else out += t[this.pos++];
      }
    }
    const q = this.c();
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= t.length || this.c() === '\n') this.fail('unterminated string');
      if (this.c() === q) {
        this.pos++;
        return out;
      }
      if (q === '"' && this.c() === '\\') out += this.escape(false);
      else out += t[this.pos++];
    }
  }

  private escape(multiline: boolean): string {
    const t = this.text;
    const e = t[this.pos + 1];
    const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\', e: '\x1b' };
    if (e !== undefined && simple[e] !== undefined) {
      this.pos += 2;
      return simple[e];
    }
    if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const hex = t.slice(this.pos + 2, this.pos + 2 + n);
      if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== n) this.fail('bad unicode escape');
      this.pos += 2 + n;
      return String.fromCodePoint(parseInt(hex, 16));
    }
    if (multiline && /[ \t\r\n]/.test(e ?? '')) {
      // A line-ending backslash trims the whitespace up to the next non-blank character.
      this.pos++;
      while (/[ \t\r\n]/.test(this.c())) this.pos++;
      return '';
    }
    return this.fail(`bad escape \\${e ?? ''}`);
  }

  /** A dotted key, each part decoded. */
  key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.skipSpaces();
      if (this.c() === '"' || this.c() === "'") parts.push(this.string());
      else {
        const m = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.pos));
        if (!m) this.fail('expected a key');
        parts.push(m[0]);
        this.pos += m[0].length;
      }
      this.skipSpaces();
      if (this.c() !== '.') return parts;
      this.pos++;
    }
  }

  /** Past any value: strings, arrays (nested), inline tables, scalars. */
  value(): void {
    const c = this.c();
    if (c === '"' || c === "'") this.string();
    else if (c === '[') this.array();
    else if (c === '{') {
      this.pos++;
      for (;;) {
        this.skipSpaces();
        if (this.c() === '}') {
          this.pos++;
          return;
        }
        this.key();
        if (this.c() !== '=') this.fail('expected = in an inline table');
        this.pos++;
        this.skipSpaces();
        this.value();
        this.skipSpaces();
        if (this.c() === ',') this.pos++;
        else if (this.c() !== '}') this.fail('expected , or } in an inline table');
      }
    } else {
      const m = /^[^\s,\]}#]+/.exec(this.text.slice(this.pos));
      if (!m) this.fail('expected a value');
      this.pos += m[0].length;
    }
  }

  array(): ArrayValue {
    const open = this.pos;
    this.pos++;
    const elements: ArrayElement[] = [];
    for (;;) {
      this.skipBlank();
      if (this.c() === ']') {
        const close = this.pos;
        this.pos++;
        return { open, close, elements };
      }
      const start = this.pos;
      let value: string | undefined;
      if (this.c() === '"' || this.c() === "'") value = this.string();
      else this.value();
      elements.push({ start, end: this.pos, ...(value !== undefined ? { value } : {}) });
      this.skipBlank();
      if (this.c() === ',') this.pos++;
      else if (this.c() !== ']') this.fail('expected , or ] in an array');
    }
  }
}

/**
 * The top-level entries and the table headers of `text`. Only what is needed to edit the top level is checked:
 * the text after the first table is scanned line by line for headers (values there are skipped as a whole).
 */
export function scanToml(text: string): TomlLayout {
  const s = new Scanner(text);
  const entries: TopLevelEntry[] = [];
  const headers: TableHeader[] = [];
  let tablesStart = text.length;
  for (;;) {
    s.skipBlank();
    if (s.pos >= text.length) break;
    const lineStart = s.lineStartOf(s.pos);
    if (s.c() === '[') {
      if (tablesStart === text.length) tablesStart = lineStart;
      const array = text.startsWith('[[', s.pos);
      s.pos += array ? 2 : 1;
      const path = s.key();
      if (!text.startsWith(array ? ']]' : ']', s.pos)) s.fail('expected ] after a table name');
      s.pos += array ? 2 : 1;
      s.endLine();
      headers.push({ path, array, lineStart, lineEnd: s.pos });
      continue;
    }
    const key = s.key();
    if (s.c() !== '=') s.fail(`expected = after ${key.join('.')}`);
    s.pos++;
    s.skipSpaces();
    const valueStart = s.pos;
    s.value();
    const valueEnd = s.pos;
    s.endLine();
    if (tablesStart === text.length) entries.push({ key, lineStart, valueStart, valueEnd, lineEnd: s.pos });
  }
  return { entries, tablesStart, headers };
}

/** The array whose `[` is at `offset`. */
export function scanArrayAt(text: string, offset: number): ArrayValue {
  const s = new Scanner(text);
  s.pos = offset;
  if (s.c() !== '[') s.fail('expected an array');
  return s.array();
}
