/** berthctl's output: crictl's table layout, sizes and JSON. */

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

/**
 * Lines laid out like Go's tabwriter as crictl configures it (minwidth 20, padding 3, spaces): every cell
 * but the last of a row is padded to its column's width.
 */
export function table(rows: string[][], minWidth = 20, padding = 3): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.slice(0, -1).forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? minWidth, [...c].length + padding);
    });
  }
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c + ' '.repeat(widths[i] - [...c].length) : c)).join('') + '\n').join('');
}

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
