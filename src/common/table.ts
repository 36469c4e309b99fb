/**
 * Lines laid out like Go's tabwriter with spaces, as crictl (minwidth 20, padding 3) and kubectl (minwidth 10,
 * padding 3) print their tables: every cell but the last of a row is padded to its column's width.
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
