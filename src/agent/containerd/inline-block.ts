/**
 * containerd 1.x: Berth's handlers as a marked block at the end of the main config. 1.x cannot take them as
 * drop-ins: it merges an imported file's `plugins` by replacing each plugin's whole section, so a drop-in that
 * adds one runtime wipes the CRI settings of the main config (sandbox image, the default runc, CNI dirs) and
 * all but the last drop-in's runtimes (containerd/containerd#5837, changed only in 2.0 by #9982;
 * test/agent/containerd-apply.test.ts shows it on Debian's 1.6). TOML allows a sub-table after other tables,
 * so appending `[...runtimes.<h>]` tables extends the CRI section without touching a byte of the rest.
 */
import { invalid } from '../../common/errors';
import { runtimeTablePath } from './dropin';
import { scanToml, TomlScanError, type TableHeader } from './toml';

export const BLOCK_BEGIN = '# BEGIN Berth runtime handlers (owned by berth-agent: edits are overwritten; delete the RuntimeHandlers instead)';
export const BLOCK_END = '# END Berth runtime handlers';

interface Span {
  start: number;
  end: number;
}

/** Where Berth's block is (from its BEGIN line to just past its END line), if the text has one. */
function blockSpan(text: string, file: string): Span | undefined {
  const begin = lineIndex(text, BLOCK_BEGIN);
  if (begin < 0) return undefined;
  const end = lineIndex(text, BLOCK_END, begin);
  if (end < 0) throw invalid(file, `has "${BLOCK_BEGIN}" without "${BLOCK_END}"`);
  const nl = text.indexOf('\n', end);
  return { start: begin, end: nl < 0 ? text.length : nl + 1 };
}

/** Offset of the line that is exactly `line`, from `from` on, or -1. */
function lineIndex(text: string, line: string, from = 0): number {
  for (let i = text.indexOf(line, from); i >= 0; i = text.indexOf(line, i + 1)) {
    const atStart = i === 0 || text[i - 1] === '\n';
    const after = text[i + line.length];
    if (atStart && (after === undefined || after === '\n' || after === '\r')) return i;
  }
  return -1;
}

function headersOf(text: string, file: string): readonly TableHeader[] {
  try {
    return scanToml(text).headers;
  } catch (err) {
    if (err instanceof TomlScanError) throw invalid(file, `not TOML that Berth can edit: ${err.message}`);
    throw err;
  }
}

const samePath = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** The runtime handlers defined by the tables inside Berth's block. */
export function blockHandlers(text: string, version: number, file = 'config'): string[] {
  const span = blockSpan(text, file);
  if (!span) return [];
  const prefix = runtimeTablePath('', version).slice(0, -1);
  return headersOf(text.slice(span.start, span.end), file)
    .filter((h) => h.path.length === prefix.length + 1 && samePath(h.path.slice(0, -1), prefix))
    .map((h) => h.path[h.path.length - 1]);
}

/** The text without Berth's block. */
export function removeBlock(text: string, file = 'config'): string {
  const span = blockSpan(text, file);
  return span ? text.slice(0, span.start) + text.slice(span.end) : text;
}

/** `text` with Berth's block holding exactly `tables` (the block goes when `tables` is empty). */
export function setBlock(text: string, tables: string, file = 'config'): string {
  const span = blockSpan(text, file);
  const rest = span ? text.slice(0, span.start) + text.slice(span.end) : text;
  if (tables === '') return rest;
  const body = `${BLOCK_BEGIN}\n${tables.endsWith('\n') ? tables : `${tables}\n`}${BLOCK_END}\n`;
  if (span) return text.slice(0, span.start) + body + text.slice(span.end);
  return `${rest}${rest === '' || rest.endsWith('\n') ? '' : '\n'}${body}`;
}

/**
 * Handlers the config already defines outside Berth's block (in any CRI plugin naming): Berth does not take
 * over a runtime the node's own config has.
 */
export function foreignHandlers(text: string, handlers: readonly string[], file = 'config'): string[] {
  const outside = removeBlock(text, file);
  const headers = headersOf(outside, file);
  return handlers.filter((h) => [1, 2, 3].some((v) => {
    const table = runtimeTablePath(h, v);
    return headers.some((x) => samePath(x.path, table) || samePath(x.path, [...table, 'options']));
  }));
}
