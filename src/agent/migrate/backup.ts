/**
 * The switch's file changes with a way back byte for byte. Each file's original bytes are copied into the
 * migration's backup directory and the backup is recorded (the NodeMigration status, through `record`) before
 * the file is touched, so an agent killed anywhere can restore it. A second try keeps the first copy: after a
 * crash the file on disk may already be the rewritten one, and only the first copy is the original. A file the
 * migration created is recorded without a hash, and a rollback removes it. Writes go through a temp file and a
 * rename, keeping the file's mode.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import type { MigrationBackup } from '../api/migration-types';
import type { HostExec } from '../node/host-exec';
import type { FileEdit } from './endpoint-rewrite';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** Where the original of the host's `file` is kept, inside `dir` (named by the path's hash: one flat directory). */
export const backupCopyOf = (dir: string, file: string): string => path.join(dir, `${sha256(file).slice(0, 32)}.orig`);

function writeAtomically(target: string, data: string | Buffer, mode: number): void {
  const tmp = `${target}.berth-tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, target);
}

/** Backs up, records, then applies each edit. `recorded` are the backups the status already lists (earlier tries). */
export async function applyEdits(host: HostExec, dir: string, edits: readonly FileEdit[], recorded: readonly MigrationBackup[], record: (b: MigrationBackup) => Promise<void>): Promise<void> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const e of edits) {
    const target = host.fromHostFile(e.file);
    const copy = backupCopyOf(dir, e.file);
    let backup = recorded.find((b) => b.path === e.file);
    if (!backup) {
      const original = fs.existsSync(target) ? fs.readFileSync(target) : undefined;
      if (original !== undefined && !fs.existsSync(copy)) writeAtomically(copy, original, 0o600);
      backup = { path: e.file, what: e.what, ...(original !== undefined ? { sha256: sha256(fs.readFileSync(copy)) } : {}) };
      await record(backup);
    }
    const mode = fs.existsSync(target) ? fs.statSync(target).mode & 0o7777 : 0o644;
    writeAtomically(target, e.after, mode);
  }
}

/** Puts every backed-up file back as it was (or removes the ones the migration created); throws naming a bad copy. */
export function restoreBackups(host: HostExec, dir: string, backups: readonly MigrationBackup[]): void {
  for (const b of backups) {
    const target = host.fromHostFile(b.path);
    if (b.sha256 === undefined) {
      fs.rmSync(target, { force: true });
      continue;
    }
    const copy = backupCopyOf(dir, b.path);
    let original: Buffer;
    try {
      original = fs.readFileSync(copy);
    } catch (err) {
      throw new BerthError('NotFound', `the backup of ${b.path} (${copy}) is gone: ${(err as Error).message}`, { field: b.path });
    }
    if (sha256(original) !== b.sha256) throw new BerthError('FailedPrecondition', `the backup of ${b.path} does not match its recorded sha256`, { field: b.path });
    const mode = fs.existsSync(target) ? fs.statSync(target).mode & 0o7777 : 0o644;
    writeAtomically(target, original, mode);
  }
}
