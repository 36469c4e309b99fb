/**
 * Image records: one file per name under `records/` (the file name is the sha256 of the name), each
 * `name → target (what the name resolved to) → manifest → config (the image id)` plus what the CRI needs
 * without reading blobs (layers, diff IDs, top chain ID, size, user). Written atomically, and only after every
 * layer is committed: a record that exists is a complete image.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile, syncDir, writeFileAtomic } from '../../common/atomic';
import type { Digest } from '../digest';

export interface ImageRecord {
  /** Normalised reference: `host/repo:tag` or `host/repo@sha256:…`. */
  name: string;
  /** Digest the name resolved to (an index for multi-arch images). */
  target: Digest;
  manifest: Digest;
  /** Config digest. */
  id: Digest;
  layers: Digest[];
  diffIds: Digest[];
  /** Chain ID of the top layer; absent for an image without layers. */
  chainId?: Digest;
  size: number;
  /** config.User as written. */
  user: string;
  pinned: boolean;
  createdAt: string;
}

export class RecordStore {
  private readonly byName = new Map<string, ImageRecord>();

  private constructor(readonly dir: string) {}

  static open(dir: string): RecordStore {
    const s = new RecordStore(dir);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of fs.readdirSync(dir)) {
      const full = path.join(dir, f);
      if (f.startsWith('.')) {
        fs.rmSync(full, { force: true }); // an atomic write cut short
        continue;
      }
      const rec = readJsonFile<ImageRecord>(full);
      s.byName.set(rec.name, rec);
    }
    return s;
  }

  private file(name: string): string {
    return path.join(this.dir, createHash('sha256').update(name).digest('hex') + '.json');
  }

  get(name: string): ImageRecord | undefined {
    return this.byName.get(name);
  }

  all(): ImageRecord[] {
    return [...this.byName.values()];
  }

  put(rec: ImageRecord): void {
    writeFileAtomic(this.file(rec.name), JSON.stringify(rec, null, 1) + '\n', 0o600);
    this.byName.set(rec.name, rec);
  }

  delete(name: string): boolean {
    if (!this.byName.has(name)) return false;
    fs.rmSync(this.file(name), { force: true });
    syncDir(this.dir);
    this.byName.delete(name);
    return true;
  }
}
