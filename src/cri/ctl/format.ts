/** berthctl's output: crictl's table layout, sizes and JSON. */
import * as YAML from 'yaml';

/**
 * Go's `%.*g` (used by crictl through go-units): `precision` significant digits, trailing zeros dropped,
 * exponent form when the exponent is < -4 or >= precision, exponent at least two digits.
 */
export function goFormatG(x: number, precision: number): string {
  if (x === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(Number(x.toPrecision(precision)))));
  const trim = (m: string) => (m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m);
  if (exp < -4 || exp >= precision) {
    const [m, e] = x.toExponential(precision - 1).split('e');
    const sign = e.startsWith('-') ? '-' : '+';
    return `${trim(m)}e${sign}${e.replace(/^[-+]/, '').padStart(2, '0')}`;
  }
  return trim(x.toFixed(Math.max(0, precision - 1 - exp)));
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** go-units HumanSizeWithPrecision(size, 3), as `crictl images` prints sizes: 4.26MB, 999B, 1kB. */
export function humanSize(bytes: number, precision = 3): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return `${goFormatG(size, precision)}${DECIMAL_UNITS[i]}`;
}

/** crictl's tables (Go's tabwriter, minwidth 20, padding 3). */
export { table } from '../../common/table';

/** The ID as crictl shows it in tables: without the `sha256:` prefix, 13 characters. */
export function truncatedId(id: string, prefix = 'sha256:'): string {
  const s = id.startsWith(prefix) ? id.slice(prefix.length) : id;
  return s.slice(0, 13);
}

/** JSON as crictl prints protobuf messages: two-space indent. */
export function json(v: unknown): string {
  return JSON.stringify(v, null, 2) + '\n';
}

/** The `info` map of a verbose status: each value that is JSON text becomes the JSON it holds. */
export function parsedInfo(info: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(info).sort()) {
    try {
      out[k] = JSON.parse(info[k]);
    } catch {
      out[k] = info[k];
    }
  }
  return out;
}

/** go-units HumanDuration, which crictl's CREATED columns use ("5 seconds", "About a minute", "3 hours"). */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  const minutes = Math.trunc(ms / 60_000);
  // Go rounds hours to the nearest (int(d.Hours() + 0.5)); everything else truncates.
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

/** "N seconds ago" for a CRI timestamp (nanoseconds since the epoch, as a decimal string). */
export function ago(nanos: string, nowMs = Date.now()): string {
  return `${humanDuration(nowMs - Number(BigInt(nanos) / 1_000_000n))} ago`;
}

/**
 * Go's time.Format(time.RFC3339Nano) of a CRI timestamp in local time, as crictl inspect shows createdAt:
 * fraction without trailing zeros, `Z` for a zero offset.
 */
export function rfc3339Nano(nanos: string | bigint): string {
  const ns = BigInt(nanos);
  const secs = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const utcMs = Number(secs) * 1000;
  const offsetMin = -new Date(utcMs).getTimezoneOffset();
  const wall = new Date(utcMs + offsetMin * 60_000).toISOString().slice(0, 19);
  const fraction = frac === 0n ? '' : `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
  const abs = Math.abs(offsetMin);
  const zone = offsetMin === 0 ? 'Z' : `${offsetMin < 0 ? '-' : '+'}${String(Math.trunc(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${wall}${fraction}${zone}`;
}

/** Go's zero time.Time as RFC3339Nano: what crictl shows for a container never started or never finished. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * A decoded message as protojson prints it with EmitDefaultValues (crictl's -o json): absent sub-messages
 * (proto-loader's nulls) left out, every other field kept, in field order.
 */
export function protoJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(protoJson);
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = protoJson(x);
  return out;
}

/** Keys sorted at every level: crictl round-trips inspect/info output through Go maps, which marshal sorted. */
export function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) out[k] = sortedKeys(o[k]);
  return out;
}

/**
 * YAML as crictl prints it: sigs.k8s.io/yaml's (YAML 1.1, so times and yes/no are quoted; keys sorted; list
 * items not indented under their key), then the empty line its Println adds.
 */
export function yamlText(v: unknown): string {
  return `${YAML.stringify(sortedKeys(v), { indentSeq: false, lineWidth: 0, version: '1.1' })}\n`;
}

/**
 * One value of a verbose status' `info` map as crictl shows it: text that starts with `{` is the JSON object
 * it holds, anything else a string with surrounding quotes trimmed.
 */
export function infoValue(text: string): unknown {
  if (text.startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch {
      // crictl gives up on the whole output here; showing the text is more useful
    }
  }
  return text.replace(/^"+|"+$/g, '');
}

/** A label or annotation map as crictl's table views list it; nothing when empty (Go decodes an empty map as nil). */
export function keyValueLines(title: string, m: Record<string, string>): string[] {
  const keys = Object.keys(m).sort();
  return keys.length ? [`${title}:`, ...keys.map((k) => `\t${k} -> ${m[k]}`)] : [];
}

/** Go's %v of a map[string]string: `map[k1:v1 k2:v2]`, keys sorted. */
export function goMap(m: Record<string, string>): string {
  return `map[${Object.keys(m).sort().map((k) => `${k}:${m[k]}`).join(' ')}]`;
}
