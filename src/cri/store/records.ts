/**
 * A directory of JSON records, one file per id, each replaced atomically (write-temp, fsync, rename): after a
 * crash at any point every record is either its old or its new self. Loaded once at start; kept in memory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../common/atomic';
import { notFound } from '../../common/errors';
import { HEX_ID, findByPrefix } from '../../common/ids';
import type { Logger } from '../../common/log';
import { NameIndex } from './names';

export class RecordDir<T extends { id: string }> {
  private readonly byId = new Map<string, T>();

  constructor(readonly dir: string, private readonly kind: string, private readonly log: Logger) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      if (name.startsWith('.')) {
        // A temp file a crash left before its rename: the record it was replacing is still whole.
        fs.rmSync(file, { force: true });
        continue;
      }
      if (!name.endsWith('.json') || !HEX_ID.test(name.slice(0, -5))) continue;
      try {
        const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as T;
        this.byId.set(rec.id, rec);
      } catch (err) {
        log.error(`unreadable ${kind} record: moved aside`, { file, error: (err as Error).message });
        fs.renameSync(file, `${file}.corrupt`);
      }
    }
  }

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  all(): T[] {
    return [...this.byId.values()];
  }

  ids(): IterableIterator<string> {
    return this.byId.keys();
  }

  put(rec: T): void {
    writeFileAtomic(path.join(this.dir, `${rec.id}.json`), JSON.stringify(rec));
    this.byId.set(rec.id, rec);
  }

  delete(id: string): void {
    fs.rmSync(path.join(this.dir, `${id}.json`), { force: true });
    this.byId.delete(id);
    this.log.debug(`${this.kind} record removed`, { id });
  }
}

/** Records with a unique name each, found by id or unique id prefix: what sandboxes and containers share. */
export class NamedRecords<T extends { id: string; name: string }> {
  readonly records: RecordDir<T>;
  readonly names = new NameIndex();

  constructor(dir: string, private readonly what: string, log: Logger) {
    this.records = new RecordDir(dir, what, log);
    for (const r of this.records.all()) this.names.reserve(r.name, r.id, what);
  }

  /** The record an id or unique prefix names; undefined when none. */
  find(idOrPrefix: string): T | undefined {
    const id = findByPrefix(this.records.ids(), idOrPrefix, `${this.what} id`);
    return id === undefined ? undefined : this.records.get(id);
  }

  get(idOrPrefix: string): T {
    const r = this.find(idOrPrefix);
    if (!r) throw notFound(`${this.what} "${idOrPrefix}" not found`);
    return r;
  }

  all(): T[] {
    return this.records.all();
  }

  put(rec: T): void {
    this.records.put(rec);
  }

  delete(rec: T): void {
    this.records.delete(rec.id);
    this.names.release(rec.name);
  }
}
