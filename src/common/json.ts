/**
 * JSON with exact 64-bit integers. JSON.parse turns 18446744073709551615 (RLIM_INFINITY, "max" in many
 * runtime-spec fields) into 2^64, which is no uint64 at all, and rounds any integer beyond 2^53. Here an integer
 * literal that a double cannot hold exactly becomes a bigint; everything else is what JSON.parse gives.
 * Texts without such a literal (nearly all) go through JSON.parse itself.
 */

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** 16 digits in a row may be an unsafe integer; fewer never are. */
const MAYBE_BIG = /\d{16}/;

export function parseJson(text: string): unknown {
  if (!MAYBE_BIG.test(text)) return JSON.parse(text);
  return new ExactParser(text).document();
}

/** The inverse of parseJson: bigints are written as plain integer literals. Undefined members are left out. */
export function stringifyJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'bigint': return value.toString();
    case 'number': return Number.isFinite(value) ? String(value) : 'null';
    case 'string': case 'boolean': return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : stringifyJson(v))).join(',')}]`;
      const parts: string[] = [];
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v !== undefined && typeof v !== 'function') parts.push(`${JSON.stringify(k)}:${stringifyJson(v)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default: return 'null';
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

/** A recursive-descent parser; strings are handed to JSON.parse, which knows every escape. */
class ExactParser {
  private at = 0;

  constructor(private readonly text: string) {}

  document(): unknown {
    const v = this.value();
    this.space();
    if (this.at < this.text.length) this.fail('unexpected text after the JSON value');
    return v;
  }

  private value(): unknown {
    this.space();
    const ch = this.text[this.at];
    if (ch === '{') return this.object();
    if (ch === '[') return this.array();
    if (ch === '"') return this.string();
    if (ch === '-' || (ch >= '0' && ch <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return v;
      }
    }
    return this.fail(ch === undefined ? 'unexpected end of JSON input' : `unexpected token ${JSON.stringify(ch)}`);
  }

  private object(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.at++;
    this.space();
    if (this.text[this.at] === '}') {
      this.at++;
      return out;
    }
    for (;;) {
      this.space();
      if (this.text[this.at] !== '"') this.fail('expected a property name');
      const key = this.string();
      this.space();
      if (this.text[this.at++] !== ':') this.fail('expected ":" after a property name');
      // Like JSON.parse: a later duplicate wins; "__proto__" is an ordinary key.
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.space();
      const sep = this.text[this.at++];
      if (sep === '}') return out;
      if (sep !== ',') this.fail('expected "," or "}" in an object');
    }
  }

  private array(): unknown[] {
    const out: unknown[] = [];
    this.at++;
    this.space();
    if (this.text[this.at] === ']') {
      this.at++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.space();
      const sep = this.text[this.at++];
      if (sep === ']') return out;
      if (sep !== ',') this.fail('expected "," or "]" in an array');
    }
  }

  private string(): string {
    const start = this.at;
    this.at++;
    for (;;) {
      const ch = this.text[this.at++];
      if (ch === undefined) this.fail('unterminated string');
      if (ch === '\\') this.at++;
      else if (ch === '"') break;
    }
    return JSON.parse(this.text.slice(start, this.at)) as string;
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.at;
    const m = NUMBER.exec(this.text);
    if (!m) return this.fail('malformed number');
    this.at += m[0].length;
    const n = Number(m[0]);
    if (m[1] === undefined && m[2] === undefined && !Number.isSafeInteger(n)) return BigInt(m[0]);
    return n;
  }

  private space(): void {
    WHITESPACE.lastIndex = this.at;
    this.at += WHITESPACE.exec(this.text)![0].length;
  }

  private fail(message: string): never {
    throw new SyntaxError(`${message} at position ${this.at}`);
  }
}
