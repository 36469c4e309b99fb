/**
 * What the shim keeps per task under <state>/tasks/<id>/: task.json (this file's records) and the monitor's
 * files (monitor.sock, exit.json, console.sock); exec processes the same under exec/<exec id>/. Records are
 * written atomically (temp, fsync, rename, fsync dir): after a crash each is old or new, never torn.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile, writeFileAtomic } from '../common/atomic';
import { alreadyExists, invalid } from '../common/errors';

export interface TaskRecord {
  id: string;
  bundle: string;
  /** "berth" (the library) or a runc-compatible binary's path. */
  runtime: string;
  /** Absent in records of older shims: cgroupfs. */
  cgroupDriver?: 'cgroupfs' | 'systemd';
  terminal: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  logPath: string;
  /** Unix ms. */
  createdAt: number;
  startedAt?: number;
  pid: number;
  /** Set until create has finished: a shim killed meanwhile cleans the task up at its next start. */
  creating?: boolean;
  /** The exit has been announced as an event (so that a restart announces only exits it missed). */
  exitReported?: boolean;
  /** OOM kills in the container's memory cgroup announced as "oom" events (a restart announces only new ones). */
  oomReported?: number;
}

export interface ExecRecord {
  id: string;
  execId: string;
  pid: number;
  terminal: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  createdAt: number;
  creating?: boolean;
  exitReported?: boolean;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

export function validateTaskId(value: string, field: string): void {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw invalid(field, `${JSON.stringify(value)} is invalid: 1–128 letters, digits and _ . + - (not starting with a symbol)`);
  }
}

export class TaskStore {
  readonly tasksDir: string;

  constructor(readonly stateDir: string) {
    this.tasksDir = path.join(stateDir, 'tasks');
    fs.mkdirSync(this.tasksDir, { recursive: true, mode: 0o700 });
  }

  dir(id: string): string {
    return path.join(this.tasksDir, id);
  }

  execDir(id: string, execId: string): string {
    return path.join(this.tasksDir, id, 'exec', execId);
  }

  /** Claims the id: mkdir fails if it is taken. */
  claim(id: string): string {
    const dir = this.dir(id);
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`task "${id}" already exists`);
      throw err;
    }
    return dir;
  }

  claimExec(id: string, execId: string): string {
    const dir = this.execDir(id, execId);
    fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`exec "${execId}" already exists in task "${id}"`);
      throw err;
    }
    return dir;
  }

  write(record: TaskRecord): void {
    writeFileAtomic(path.join(this.dir(record.id), 'task.json'), JSON.stringify(record));
  }

  writeExec(record: ExecRecord): void {
    writeFileAtomic(path.join(this.execDir(record.id, record.execId), 'exec.json'), JSON.stringify(record));
  }

  /** Every task directory, with its record when it has a readable one. */
  scan(): { id: string; record?: TaskRecord; execs: { execId: string; record?: ExecRecord }[] }[] {
    const out: { id: string; record?: TaskRecord; execs: { execId: string; record?: ExecRecord }[] }[] = [];
    for (const id of fs.readdirSync(this.tasksDir)) {
      const record = tryRead<TaskRecord>(path.join(this.dir(id), 'task.json'));
      let execIds: string[] = [];
      try {
        execIds = fs.readdirSync(path.join(this.dir(id), 'exec'));
      } catch {
        // no execs
      }
      out.push({ id, record, execs: execIds.map((execId) => ({ execId, record: tryRead<ExecRecord>(path.join(this.execDir(id, execId), 'exec.json')) })) });
    }
    return out;
  }

  remove(id: string): void {
    fs.rmSync(this.dir(id), { recursive: true, force: true });
  }

  removeExec(id: string, execId: string): void {
    fs.rmSync(this.execDir(id, execId), { recursive: true, force: true });
  }
}

function tryRead<T>(file: string): T | undefined {
  try {
    return readJsonFile<T>(file);
  } catch {
    return undefined;
  }
}
