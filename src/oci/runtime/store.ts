/**
 * Container records under --root: one directory per container holding state.json (what we know about its
 * process) and config.json (the validated spec it was created from). Every write is atomic.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, readJsonFile } from '../../common/atomic';
import { alreadyExists, invalid, notFound } from '../../common/errors';
import { parseJson, stringifyJson } from '../../common/json';
import type { Spec } from '../spec/types';

export interface ContainerRecord {
  id: string;
  bundle: string;
  rootfs: string;
  /** Init pid in the host pid namespace; 0 while creating. */
  pid: number;
  /** /proc/PID/stat start time, to tell the container's process from a later one with the same pid. */
  pidStartTime?: string;
  /** The berth-run process doing the create, so that a crashed create is seen as stopped. */
  creator?: { pid: number; startTime?: string };
  created: string;
  ociVersion: string;
  annotations?: Record<string, string>;
  /** Controller → cgroup directory, as resolved at create. */
  cgroupPaths: Record<string, string>;
  /** How the cgroup is managed: directly, or as a systemd scope (--systemd-cgroup). */
  cgroupDriver?: 'cgroupfs' | 'systemd';
  /** Set once `start` succeeded. */
  started?: boolean;
  /**
   * Only for a container without a mount namespace of its own: how many mounts sat on its rootfs before it was
   * created. Its own mounts are stacked above those, in the host's namespace, and delete removes them.
   */
  hostMounts?: { baseline: number };
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$/;

export function validateId(id: string): void {
  if (!ID_PATTERN.test(id) || id === '.' || id === '..') throw invalid('container id', `${JSON.stringify(id)} is invalid: use letters, digits and _ . + - (not starting with a symbol)`);
}

/**
 * Container state lives as long as the containers' processes (a reboot ends both), so it is written
 * atomically but not fsynced, as runc does: a killed berth-run never leaves a torn file either way.
 */
export class ContainerStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    validateId(id);
    return path.join(this.root, id);
  }

  startSocket(id: string): string {
    return path.join(this.dir(id), 'start.sock');
  }

  /** Claims the id: the directory is made with mkdir, which fails if another create got there first. */
  claim(id: string): string {
    const dir = this.dir(id);
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`container with id exists: ${id}`);
      throw err;
    }
    return dir;
  }

  write(record: ContainerRecord): void {
    writeFileAtomic(path.join(this.dir(record.id), 'state.json'), JSON.stringify(record), 0o600, { durable: false });
  }

  writeSpec(id: string, spec: Spec): void {
    // Exact 64-bit integers (rlimits of 2^64-1) survive the round trip.
    writeFileAtomic(path.join(this.dir(id), 'config.json'), stringifyJson(spec), 0o600, { durable: false });
  }

  read(id: string): ContainerRecord {
    const file = path.join(this.dir(id), 'state.json');
    try {
      return readJsonFile<ContainerRecord>(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`container "${id}" does not exist`);
      throw err;
    }
  }

  readSpec(id: string): Spec {
    try {
      return parseJson(fs.readFileSync(path.join(this.dir(id), 'config.json'), 'utf8')) as Spec;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`container "${id}" does not exist`);
      throw err;
    }
  }

  exists(id: string): boolean {
    return fs.existsSync(path.join(this.dir(id), 'state.json'));
  }

  list(): string[] {
    try {
      return fs.readdirSync(this.root, { withFileTypes: true }).filter((d) => d.isDirectory() && ID_PATTERN.test(d.name)).map((d) => d.name).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** The known files first, then the directory: cheaper than a recursive walk, which stays the fallback. */
  remove(id: string): void {
    const dir = this.dir(id);
    try {
      for (const f of ['state.json', 'config.json', 'start.sock']) {
        try {
          fs.unlinkSync(path.join(dir, f));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      fs.rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
