/**
 * The parts of an image config (OCI image-spec config.md) the store needs: `rootfs.diff_ids` (checked against
 * every unpacked layer) and `config.User`; and chain IDs computed from the diff IDs.
 */
import { createHash } from 'node:crypto';
import { invalid } from '../../common/errors';
import { parseDigest, type Digest } from '../digest';
import type { ImageRunConfig } from '../types';

export interface ImageConfigInfo {
  diffIds: Digest[];
  user: string;
  /** The whole document, for ImageStatus(verbose). */
  raw: Record<string, unknown>;
}

export function parseImageConfig(bytes: Buffer, what = 'image config'): ImageConfigInfo {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid(what, `not valid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(what, 'not a JSON object');
  const raw = doc as Record<string, unknown>;
  const rootfs = raw.rootfs as Record<string, unknown> | undefined;
  if (typeof rootfs !== 'object' || rootfs === null) throw invalid(`${what}.rootfs`, 'missing');
  if (rootfs.type !== 'layers') throw invalid(`${what}.rootfs.type`, `must be "layers", got ${JSON.stringify(rootfs.type)}`);
  if (!Array.isArray(rootfs.diff_ids)) throw invalid(`${what}.rootfs.diff_ids`, 'must be a list');
  const diffIds = rootfs.diff_ids.map((d, i) => {
    if (typeof d !== 'string') throw invalid(`${what}.rootfs.diff_ids[${i}]`, 'must be a digest string');
    if (parseDigest(d, `${what}.rootfs.diff_ids[${i}]`).algorithm !== 'sha256') throw invalid(`${what}.rootfs.diff_ids[${i}]`, 'must be a sha256 digest');
    return d as Digest;
  });
  const cfg = raw.config as Record<string, unknown> | undefined;
  const user = cfg && typeof cfg === 'object' && typeof cfg.User === 'string' ? cfg.User : '';
  return { diffIds, user, raw };
}

/** image-spec config.md: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : (`sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}` as Digest));
  }
  return out;
}

/** The `config` part of an image config that running a container takes (absent fields: empty). */
export function runConfigOf(id: Digest, raw: Record<string, unknown>): ImageRunConfig {
  const c = typeof raw.config === 'object' && raw.config !== null && !Array.isArray(raw.config) ? (raw.config as Record<string, unknown>) : {};
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const volumes = typeof c.Volumes === 'object' && c.Volumes !== null ? Object.keys(c.Volumes) : [];
  return {
    id, user: str(c.User), env: list(c.Env), entrypoint: list(c.Entrypoint), cmd: list(c.Cmd),
    workingDir: str(c.WorkingDir), stopSignal: str(c.StopSignal), volumes,
  };
}
