import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Replaces `file` so that a crash at any point leaves either the old or the new content, never a mix:
 * write a temp file beside it, fsync, rename over, fsync the directory. With `durable: false` the fsyncs are
 * skipped: rename alone is atomic against a killed process, which is all that state on a tmpfs (/run) —
 * gone at reboot anyway — needs.
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600, options: { durable?: boolean } = {}): void {
  const durable = options.durable ?? true;
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    if (typeof data === 'string') fs.writeSync(fd, data);
    else fs.writeSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  if (durable) syncDir(dir);
}

export function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function readJsonFile<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}
