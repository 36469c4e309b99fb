/**
 * Containers' writable layers: `rootfs/<key>/{upper,work}` plus `meta.json` ({key, imageId, chainId}),
 * made in a temp directory and renamed into place. The chain ID keeps the image's snapshots alive for GC
 * while the container exists, even after the image is removed.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile, syncDir, writeFileAtomic } from '../../common/atomic';
import { invalid } from '../../common/errors';

export interface RootfsRecord {
  key: string;
  imageId: string;
  chainId: string;
  createdAt: string;
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const TMP = '.tmp-';

export class RootfsStore {
  private constructor(readonly dir: string) {}

  static open(dir: string): RootfsStore {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(dir)) if (name.startsWith(TMP)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    return new RootfsStore(dir);
  }

  static checkKey(key: string): void {
    if (typeof key !== 'string' || !KEY.test(key)) throw invalid('key', `invalid container key ${JSON.stringify(key)}: letters, digits, '_', '.', '-', at most 128, starting with a letter or digit`);
  }

  paths(key: string): { upperdir: string; workdir: string } {
    return { upperdir: path.join(this.dir, key, 'upper'), workdir: path.join(this.dir, key, 'work') };
  }

  get(key: string): RootfsRecord | undefined {
    RootfsStore.checkKey(key);
    try {
      return readJsonFile<RootfsRecord>(path.join(this.dir, key, 'meta.json'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  list(): RootfsRecord[] {
    return fs.readdirSync(this.dir).filter((n) => !n.startsWith(TMP)).map((n) => this.get(n)).filter((r): r is RootfsRecord => r !== undefined);
  }

  create(key: string, imageId: string, chainId: string): RootfsRecord {
    RootfsStore.checkKey(key);
    const tmp = path.join(this.dir, TMP + randomBytes(6).toString('hex'));
    try {
      fs.mkdirSync(path.join(tmp, 'upper'), { recursive: true, mode: 0o755 });
      fs.mkdirSync(path.join(tmp, 'work'), { mode: 0o700 });
      const rec: RootfsRecord = { key, imageId, chainId, createdAt: new Date().toISOString() };
      writeFileAtomic(path.join(tmp, 'meta.json'), JSON.stringify(rec) + '\n');
      fs.renameSync(tmp, path.join(this.dir, key));
      syncDir(this.dir);
      return rec;
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  remove(key: string): void {
    RootfsStore.checkKey(key);
    const from = path.join(this.dir, key);
    if (!fs.existsSync(from)) return;
    const tmp = path.join(this.dir, TMP + randomBytes(6).toString('hex'));
    fs.renameSync(from, tmp);
    syncDir(this.dir);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
