/**
 * The one edit a containerd 2.x main config needs so that it reads Berth's drop-ins: an `imports` entry with
 * the drop-in directory's glob. containerd resolves only the imports the loaded files list (the defaults'
 * `/etc/containerd/conf.d/*.toml` is not read unless the main config names it), and with no config file at all
 * it reads nothing, so a missing file becomes a minimal one. Edits touch only the bytes of the `imports`
 * value (or add one line before the first table); everything else keeps its bytes.
 */
import { invalid } from '../../common/errors';
import { scanArrayAt, scanToml, TomlScanError, tomlString, type TomlLayout, type TopLevelEntry } from './toml';

/** What a config that did not exist becomes: containerd's defaults plus the import. */
export const MINIMAL_CONFIG_MARK = '# Written by Berth because containerd had no config file; berth-agent removes it on uninstall.';

function layoutOf(text: string, file: string): TomlLayout {
  try {
    return scanToml(text);
  } catch (err) {
    if (err instanceof TomlScanError) throw invalid(file, `not TOML that Berth can edit: ${err.message}`);
    throw err;
  }
}

const topLevel = (l: TomlLayout, key: string): TopLevelEntry | undefined => l.entries.find((e) => e.key.length === 1 && e.key[0] === key);

/** The config's `version` (undefined: none, which containerd 1.x takes as version 1). */
export function configVersion(text: string, file = 'config'): number | undefined {
  const e = topLevel(layoutOf(text, file), 'version');
  if (!e) return undefined;
  const v = Number(text.slice(e.valueStart, e.valueEnd).replace(/_/g, ''));
  if (!Number.isInteger(v) || v < 1) throw invalid(`${file}.version`, `${text.slice(e.valueStart, e.valueEnd)} is not a config version`);
  return v;
}

/** The config's `imports`, as written. */
export function importsOf(text: string, file = 'config'): string[] {
  const e = topLevel(layoutOf(text, file), 'imports');
  if (!e) return [];
  if (text[e.valueStart] !== '[') throw invalid(`${file}.imports`, 'is not an array');
  return scanArrayAt(text, e.valueStart).elements.map((el, i) => {
    if (el.value === undefined) throw invalid(`${file}.imports[${i}]`, 'is not a string');
    return el.value;
  });
}

/** The line Berth adds when the config has no `imports` at all; the comment tells it from one Berth only extended. */
const importsLine = (glob: string): string => `imports = [${tomlString(glob)}] # added by Berth\n`;

/** `text` with `glob` among its imports (unchanged when it is there already). */
export function ensureImport(text: string, glob: string, file = 'config'): string {
  const l = layoutOf(text, file);
  const e = topLevel(l, 'imports');
  if (!e) {
    // Top-level keys must come before the first table: the line goes right there (or at the end).
    const at = l.tablesStart;
    const before = text.slice(0, at);
    const sep = before === '' || before.endsWith('\n') ? '' : '\n';
    return `${before}${sep}${importsLine(glob)}${text.slice(at)}`;
  }
  if (importsOf(text, file).includes(glob)) return text;
  const arr = scanArrayAt(text, e.valueStart);
  const last = arr.elements[arr.elements.length - 1];
  if (!last) return `${text.slice(0, arr.open + 1)}${tomlString(glob)}${text.slice(arr.open + 1)}`;
  return `${text.slice(0, last.end)}, ${tomlString(glob)}${text.slice(last.end)}`;
}

/** `text` without `glob` among its imports; the `imports` line goes when Berth's line is all there is. */
export function removeImport(text: string, glob: string, file = 'config'): string {
  const l = layoutOf(text, file);
  const e = topLevel(l, 'imports');
  if (!e) return text;
  const line = text.slice(e.lineStart, e.lineEnd);
  if (line === importsLine(glob) || line === importsLine(glob).slice(0, -1)) return text.slice(0, e.lineStart) + text.slice(e.lineEnd);
  const arr = scanArrayAt(text, e.valueStart);
  const i = arr.elements.findIndex((el) => el.value === glob);
  if (i < 0) return text;
  const el = arr.elements[i];
  // Cut the element with the separator that joined it to its neighbour: before it, or after it when first.
  const from = i > 0 ? arr.elements[i - 1].end : el.start;
  const to = i > 0 ? el.end : (arr.elements[i + 1]?.start ?? el.end);
  return text.slice(0, from) + text.slice(to);
}

/** A config for a containerd that had none: `version` and the import only. */
export function minimalConfig(version: number, glob: string): string {
  return `${MINIMAL_CONFIG_MARK}\nversion = ${version}\n${importsLine(glob)}`;
}
