import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, type ErrorKind } from '../../common/errors';

/**
 * Small, synchronous cgroupfs helpers. Everything here is synchronous on purpose: berth-run is a short-lived
 * CLI and the shim calls these from a single place per container, and cgroupfs reads/writes never block on disk.
 */

let sleepCell: Int32Array | undefined;

/** Blocks the thread for `ms` milliseconds (used between freezer polls and EBUSY retries). */
export function sleepSync(ms: number): void {
  Atomics.wait((sleepCell ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, ms);
}

/** Duck-typed: errors from another realm (jest's sandbox, vm contexts) fail `instanceof Error`. */
export function errnoOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

export function exists(p: string): boolean {
  return fs.existsSync(p);
}

/** Reads a cgroup file; undefined when it does not exist (controller absent or kernel too old). */
export function readOptional(dir: string, file: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, file), 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENODEV' || errnoOf(err) === 'EOPNOTSUPP') return undefined;
    throw wrapIo(err, `reading ${path.join(dir, file)}`);
  }
}

export function readRequired(dir: string, file: string): string {
  const v = readOptional(dir, file);
  if (v === undefined) throw new BerthError('NotFound', `${path.join(dir, file)} does not exist`);
  return v;
}

const kindOfErrno: Record<string, ErrorKind> = {
  ENOENT: 'FailedPrecondition',
  EINVAL: 'InvalidArgument',
  ERANGE: 'InvalidArgument',
  EBUSY: 'FailedPrecondition',
  EPERM: 'PermissionDenied',
  EACCES: 'PermissionDenied',
  ENOSPC: 'ResourceExhausted',
  ESRCH: 'NotFound',
  EOPNOTSUPP: 'FailedPrecondition',
};

function wrapIo(err: unknown, what: string, field?: string): BerthError {
  const code = errnoOf(err) ?? 'EIO';
  const kind = kindOfErrno[code] ?? 'Internal';
  return new BerthError(kind, `${what}: ${code}`, { field, cause: err });
}

/**
 * Writes one value to a cgroup control file. The file must already exist: cgroupfs files cannot be created, so
 * ENOENT always means "controller or feature not available here" and is reported against the spec field that
 * asked for it instead of being silently skipped.
 */
export function writeCgroupFile(dir: string, file: string, value: string, field?: string): void {
  const p = path.join(dir, file);
  let fd: number;
  try {
    // No O_CREAT (Node adds O_CLOEXEC itself): a missing file must surface as ENOENT, not as a stray regular file on a non-cgroup path.
    fd = fs.openSync(p, fs.constants.O_WRONLY);
  } catch (err) {
    throw openError(err, dir, file, field);
  }
  try {
    // One write(2) per value: cgroupfs parses each write as a unit.
    fs.writeSync(fd, value);
  } catch (err) {
    throw wrapIo(err, `writing ${JSON.stringify(value)} to ${p}`, field);
  } finally {
    fs.closeSync(fd);
  }
}

/** writeCgroupFile on the thread pool, for writes that are slow in the kernel and can overlap. */
export async function writeCgroupFileAsync(dir: string, file: string, value: string, field?: string): Promise<void> {
  const p = path.join(dir, file);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(p, fs.constants.O_WRONLY);
  } catch (err) {
    throw openError(err, dir, file, field);
  }
  try {
    await handle.write(value);
  } catch (err) {
    throw wrapIo(err, `writing ${JSON.stringify(value)} to ${p}`, field);
  } finally {
    await handle.close();
  }
}

function openError(err: unknown, dir: string, file: string, field?: string): BerthError {
  if (errnoOf(err) === 'ENOENT') {
    const why = exists(dir) ? `${file} is not available in ${dir} (controller not enabled or not supported by this kernel)` : `cgroup ${dir} does not exist`;
    return new BerthError('FailedPrecondition', why, { field, cause: err });
  }
  return wrapIo(err, `opening ${path.join(dir, file)}`, field);
}

/** Parses `key value` lines (memory.stat, cpu.stat, memory.events, cgroup.events, oom_control). */
export function parseFlatKeyed(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (text === undefined) return out;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (!k || v === undefined) continue;
    const n = Number(v);
    if (Number.isFinite(n)) out.set(k, n);
  }
  return out;
}

/** Values at or above 2^62 are the kernels' "unlimited" sentinels (v1 prints PAGE_COUNTER_MAX * PAGE_SIZE). */
const UNLIMITED_THRESHOLD = 2 ** 62;

/** A single-number file: a number, null for "max"/unlimited, undefined when missing or unparsable. */
export function readLimit(dir: string, file: string): number | null | undefined {
  const raw = readOptional(dir, file);
  if (raw === undefined) return undefined;
  const t = raw.trim().split(/\s+/)[0] ?? '';
  if (t === 'max' || t === '-1') return null;
  const n = Number(t);
  if (!Number.isFinite(n) || t === '') return undefined;
  return n >= UNLIMITED_THRESHOLD ? null : n;
}

export function readNumber(dir: string, file: string): number | undefined {
  const raw = readOptional(dir, file);
  if (raw === undefined) return undefined;
  const n = Number(raw.trim());
  return raw.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

/** Decimal rendering of an integer without exponent notation (String(1e21) would be "1e+21"). */
export function intString(n: number | bigint): string {
  return BigInt(n).toString();
}

export function readProcs(dir: string): number[] {
  const raw = readOptional(dir, 'cgroup.procs');
  if (raw === undefined) return [];
  return raw
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => Number(l.trim()));
}

/** Sub-cgroups below `dir` (a container may create its own), deepest first. */
export function descendants(dir: string): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[];
  try {
    // cgroupfs (kernfs) counts a directory's links as 2 + its subdirectories: the common leaf cgroup is
    // answered by one stat instead of listing its dozens of control files.
    if (fs.statSync(dir).nlink === 2) return out;
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return out;
    throw wrapIo(err, `listing ${dir}`);
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const child = path.join(dir, e.name);
    out.push(...descendants(child), child);
  }
  return out;
}

/** mkdir -p that reports which directories it made (so a failed create can undo exactly those). */
export function mkdirTracked(dir: string, made: string[]): void {
  const missing: string[] = [];
  let cur = dir;
  while (!exists(cur)) {
    missing.unshift(cur);
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, 0o755);
      made.push(d);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw wrapIo(err, `creating cgroup ${d}`);
    }
  }
}

/**
 * rmdir with a short retry on EBUSY: a cgroup stays busy for a moment after its last process exited (the
 * kernel finishes exit accounting asynchronously). Retries stop at `deadline` (Date.now() ms), which callers
 * share across directories so that a cgroup with live processes fails in bounded time. ENOENT counts as
 * success so destroy is idempotent.
 */
export function rmdirRetry(dir: string, deadline = Date.now() + 500): void {
  let delay = 2;
  for (;;) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return;
      if (code === 'EBUSY' && Date.now() < deadline) {
        sleepSync(Math.min(delay, Math.max(1, deadline - Date.now())));
        delay = Math.min(delay * 2, 50);
        continue;
      }
      const procs = code === 'EBUSY' ? readProcs(dir) : [];
      const extra = procs.length > 0 ? ` (still holds pids ${procs.slice(0, 10).join(',')})` : '';
      throw wrapIo(err, `removing cgroup ${dir}${extra}`);
    }
  }
}
