/**
 * Layer entry names → safe relative paths. Absolute names and any `..` component are refused (never
 * "cleaned"): a layer that tries either is hostile or broken, and is not applied at all.
 */
import { BerthError } from '../../common/errors';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export function escapeError(what: string, message: string): BerthError {
  return new BerthError('InvalidArgument', `layer entry ${JSON.stringify(what)}: ${message}`, { field: 'layer' });
}

/** `./a//b/` → `a/b`; `./` → `` (the snapshot root). */
export function normalizeEntryPath(raw: string, what = raw): string {
  if (raw.includes('\0')) throw escapeError(what, 'name contains a NUL byte');
  if (raw.startsWith('/')) throw escapeError(what, 'absolute path refused: entries must stay inside the layer');
  const parts: string[] = [];
  for (const p of raw.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw escapeError(what, '".." component refused: entries must stay inside the layer');
    parts.push(p);
  }
  return parts.join('/');
}

export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** Every proper ancestor of `rel`, outermost first (`a/b/c` → `a`, `a/b`). */
export function ancestorsOf(rel: string): string[] {
  const parts = rel.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

export type WhiteoutKind = { kind: 'whiteout'; target: string } | { kind: 'opaque'; dir: string } | undefined;

/** Overlay/AUFS whiteout names (OCI image-spec layer.md). */
export function whiteoutOf(rel: string, what: string): WhiteoutKind {
  const base = baseOf(rel);
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  if (base === OPAQUE_MARKER) return { kind: 'opaque', dir: parentOf(rel) };
  if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) throw escapeError(what, 'unsupported whiteout meta-file (only .wh..wh..opq is defined)');
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') throw escapeError(what, 'whiteout without a valid name');
  const dir = parentOf(rel);
  return { kind: 'whiteout', target: dir ? `${dir}/${name}` : name };
}
