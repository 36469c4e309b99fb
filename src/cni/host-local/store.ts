/**
 * host-local's on-disk store, in the reference plugin's layout so that a node can switch between it and ours
 * on the same data directory:
 *
 *   <dataDir>/<network>/<ip>                  "<containerID>\r\n<ifname>" (older files: "<containerID>")
 *   <dataDir>/<network>/last_reserved_ip.<N>  the last address reserved from range set N (no newline)
 *   <dataDir>/<network>/lock                  the reference plugin's flock(2) file (we neither need nor touch it)
 *
 * An address file appears complete or not at all: it is written and fsynced under a temporary name and then
 * link(2)ed to the address's name, which fails with EEXIST if the address is taken. That makes "never the
 * same address twice" hold by itself, even against a concurrent reference plugin that does not share our lock
 * (it creates address files with O_EXCL, the same atomic test). The directory lock (pkg/lock.ts) serialises the
 * rest: round-robin state, the duplicate-allocation check, release and GC.
 *
 * Every method runs under that lock (the caller's job); the operations are synchronous file system calls.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syncDir } from '../../common/atomic';
import { ioFailure } from '../pkg/errors';
import { formatIP, parseIP, type IP } from '../pkg/ip';
import type { Attachment } from '../pkg/types';

export const LINE_BREAK = '\r\n';
export const LAST_IP_PREFIX = 'last_reserved_ip.';
const TEMP_PREFIX = '.berth-';

export interface Allocation {
  ip: IP;
  /** The file name (the address in canonical text). */
  file: string;
  containerId: string;
  /** Empty for files written by old reference versions (container ID only). */
  ifname: string;
}

let tempCounter = 0;

function io<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw ioFailure(`${what}: ${(err as Error).message}`, err);
  }
}

export class DiskStore {
  /** <dataDir>/<network> */
  readonly dir: string;

  constructor(dataDir: string, network: string) {
    this.dir = path.join(dataDir, network);
    io(`creating ${this.dir}`, () => fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 }));
  }

  private key(containerId: string, ifname: string): string {
    return containerId.trim() + LINE_BREAK + ifname;
  }

  /** Reserves `ip` for (containerId, ifname); false when the address is taken. Records it as range set `rangeIdx`'s last. */
  reserve(containerId: string, ifname: string, ip: IP, rangeIdx: number): boolean {
    const name = formatIP(ip);
    const target = path.join(this.dir, name);
    const temp = path.join(this.dir, `${TEMP_PREFIX}${process.pid}-${++tempCounter}.tmp`);
    try {
      io(`writing ${temp}`, () => {
        const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
        try {
          fs.writeSync(fd, this.key(containerId, ifname));
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      });
      try {
        fs.linkSync(temp, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw ioFailure(`reserving ${target}: ${(err as Error).message}`, err);
      }
    } finally {
      fs.rmSync(temp, { force: true });
    }
    this.writeLastReserved(rangeIdx, name);
    io(`syncing ${this.dir}`, () => syncDir(this.dir));
    return true;
  }

  private writeLastReserved(rangeIdx: number, text: string): void {
    const file = path.join(this.dir, `${LAST_IP_PREFIX}${rangeIdx}`);
    const temp = path.join(this.dir, `${TEMP_PREFIX}${process.pid}-${++tempCounter}.tmp`);
    io(`writing ${file}`, () => {
      try {
        const fd = fs.openSync(temp, 'w', 0o644);
        try {
          fs.writeSync(fd, text);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(temp, file);
      } finally {
        fs.rmSync(temp, { force: true });
      }
    });
  }

  lastReservedIP(rangeIdx: number): IP | undefined {
    try {
      return parseIP(fs.readFileSync(path.join(this.dir, `${LAST_IP_PREFIX}${rangeIdx}`), 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  /** Every address file (names that are an address in canonical text). */
  list(): Allocation[] {
    const out: Allocation[] = [];
    for (const name of io(`reading ${this.dir}`, () => fs.readdirSync(this.dir))) {
      const ip = parseIP(name);
      if (!ip || formatIP(ip) !== name) continue;
      let data: string;
      try {
        data = fs.readFileSync(path.join(this.dir, name), 'utf8');
      } catch {
        continue; // released meanwhile by a plugin that does not share our lock, or not a file
      }
      const text = data.trim();
      const br = text.indexOf(LINE_BREAK);
      out.push(br < 0 ? { ip, file: name, containerId: text, ifname: '' } : { ip, file: name, containerId: text.slice(0, br), ifname: text.slice(br + LINE_BREAK.length) });
    }
    return out;
  }

  /** The reference's matching rule: "<id>\r\n<ifname>", or (files from old versions) "<id>" alone. */
  private owned(a: Allocation, containerId: string, ifname: string): 'exact' | 'legacy' | undefined {
    if (a.containerId !== containerId.trim()) return undefined;
    if (a.ifname === ifname) return 'exact';
    return a.ifname === '' ? 'legacy' : undefined;
  }

  getByID(containerId: string, ifname: string): IP[] {
    return this.list().filter((a) => this.owned(a, containerId, ifname)).map((a) => a.ip);
  }

  /** Frees every address of (containerId, ifname) — the legacy id-only files only if there is no exact match. Idempotent. */
  releaseByID(containerId: string, ifname: string): IP[] {
    const all = this.list();
    let victims = all.filter((a) => this.owned(a, containerId, ifname) === 'exact');
    if (victims.length === 0) victims = all.filter((a) => this.owned(a, containerId, ifname) === 'legacy');
    for (const a of victims) fs.rmSync(path.join(this.dir, a.file), { force: true });
    if (victims.length > 0) io(`syncing ${this.dir}`, () => syncDir(this.dir));
    return victims.map((a) => a.ip);
  }

  /**
   * Frees every address not held by one of `valid` (an id-only legacy file is kept if any valid attachment
   * has its container ID), and removes our temporary files left by dead processes.
   */
  gc(valid: Attachment[]): IP[] {
    const keys = new Set(valid.map((a) => this.key(a.containerID, a.ifname)));
    const ids = new Set(valid.map((a) => a.containerID.trim()));
    const freed: IP[] = [];
    for (const a of this.list()) {
      const keep = a.ifname === '' ? ids.has(a.containerId) : keys.has(this.key(a.containerId, a.ifname));
      if (keep) continue;
      fs.rmSync(path.join(this.dir, a.file), { force: true });
      freed.push(a.ip);
    }
    for (const name of fs.readdirSync(this.dir)) {
      const m = /^\.berth-(\d+)-\d+\.tmp$/.exec(name);
      if (m && !processAlive(Number(m[1]))) fs.rmSync(path.join(this.dir, name), { force: true });
    }
    if (freed.length > 0) io(`syncing ${this.dir}`, () => syncDir(this.dir));
    return freed;
  }

  /** STATUS: the directory exists and we can create files in it. */
  writable(): void {
    io(`checking ${this.dir}`, () => fs.accessSync(this.dir, fs.constants.W_OK | fs.constants.X_OK));
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
