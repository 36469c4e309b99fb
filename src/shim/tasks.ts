/**
 * The task service's logic, independent of gRPC: tasks (containers) and their exec processes, each under
 * one berth-monitor; exits learnt from the monitors' watch connections or, after a restart, from the exit
 * records they left.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, invalid, notFound, precondition } from '../common/errors';
import { KeyedLock } from '../common/keyed-lock';
import { isExecutable } from '../common/files';
import type { Logger } from '../common/log';
import type { Process } from '../oci';
import type { OciDriver, OciStatus, TaskStats } from './driver';
import { CliDriver, type CgroupDriverName } from './driver-cli';
import { LibraryDriver } from './driver-library';
import type { EventBus } from './events';
import { monitorCommand, readExitRecord, watchMonitor, type MonitorOptions } from './monitor';
import { parseCriLog } from './crilog';
import { TaskStore, validateTaskId, type ExecRecord, type TaskRecord } from './store';
import type { CreateRequest, DeleteRequest, ExecRequest, ExecSyncRequest, ExecSyncResponse, ExitStatus, KillRequest, ProcessSpec, TaskRef, TaskState, TaskStatus } from './types';

/** One process under a monitor: the container's init or an exec. */
class Proc {
  exit?: ExitStatus;
  readonly exited: Promise<ExitStatus>;
  private resolveExit!: (e: ExitStatus) => void;
  stopWatching: () => void = () => undefined;

  constructor(readonly dir: string, readonly id: string, readonly execId: string) {
    this.exited = new Promise((r) => { this.resolveExit = r; });
  }

  setExit(e: ExitStatus): void {
    if (this.exit) return;
    this.exit = e;
    this.resolveExit(e);
  }
}

interface Task {
  record: TaskRecord;
  init: Proc;
  driver: OciDriver;
  execs: Map<string, { record: ExecRecord; proc: Proc }>;
}

const MONITOR_GONE_EXIT = 255;
/** How long an exec's output waits for its Attach by default (a CRI streaming URL lives about a minute). */
const DEFAULT_ATTACH_TIMEOUT_MS = 60000;
const MAX_ATTACH_TIMEOUT_MS = 3600000;

export class TaskManager {
  readonly store: TaskStore;
  private readonly tasks = new Map<string, Task>();
  private readonly drivers = new Map<string, OciDriver>();
  private readonly locks = new KeyedLock();

  constructor(readonly stateDir: string, private readonly log: Logger, private readonly events: EventBus) {
    this.store = new TaskStore(stateDir);
  }

  /** Re-adopts every task on disk: running monitors are watched again, exits that happened meanwhile reported. */
  async adopt(): Promise<void> {
    for (const entry of this.store.scan()) {
      const rec = entry.record;
      if (!rec || rec.creating) {
        // A create cut short by our death: nothing was promised to anyone, so everything goes.
        this.log.warn('removing a task whose create did not finish', { id: entry.id });
        if (rec) await this.driverFor(rec.runtime, rec.cgroupDriver).delete(entry.id, true).catch(() => undefined);
        this.store.remove(entry.id);
        continue;
      }
      const task: Task = { record: rec, init: new Proc(this.store.dir(rec.id), rec.id, ''), driver: this.driverFor(rec.runtime, rec.cgroupDriver), execs: new Map() };
      this.tasks.set(rec.id, task);
      await this.follow(task, task.init, () => task.record.pid);
      for (const ex of entry.execs) {
        if (!ex.record || ex.record.creating) {
          this.store.removeExec(rec.id, ex.execId);
          continue;
        }
        const proc = new Proc(this.store.execDir(rec.id, ex.execId), rec.id, ex.execId);
        task.execs.set(ex.execId, { record: ex.record, proc });
        await this.follow(task, proc, () => ex.record!.pid);
      }
    }
    this.log.info('tasks adopted', { count: this.tasks.size });
  }

  async create(req: CreateRequest): Promise<number> {
    validateTaskId(req.id, 'id');
    if (typeof req.bundle !== 'string' || !path.isAbsolute(req.bundle)) throw invalid('bundle', 'must be an absolute path');
    if (req.logPath && !path.isAbsolute(req.logPath)) throw invalid('log_path', 'must be an absolute path');
    const runtime = !req.runtime || req.runtime === 'berth' ? 'berth' : req.runtime;
    if (runtime !== 'berth' && !(path.isAbsolute(runtime) && isExecutable(runtime))) throw invalid('runtime', `${JSON.stringify(runtime)} is not "berth" or the absolute path of an executable`);
    if (!fs.existsSync(path.join(req.bundle, 'config.json'))) throw invalid('bundle', `${req.bundle} has no config.json`);
    const cgroupDriver = !req.cgroupDriver || req.cgroupDriver === 'cgroupfs' ? 'cgroupfs' : req.cgroupDriver;
    if (cgroupDriver !== 'cgroupfs' && cgroupDriver !== 'systemd') throw invalid('cgroup_driver', `${JSON.stringify(req.cgroupDriver)} is not cgroupfs or systemd`);
    return this.locked(req.id, async () => {
      if (this.tasks.has(req.id)) throw new BerthError('AlreadyExists', `task "${req.id}" already exists`);
      const dir = this.store.claim(req.id);
      const record: TaskRecord = {
        id: req.id, bundle: req.bundle, runtime, ...(cgroupDriver === 'systemd' ? { cgroupDriver } : {}), terminal: !!req.terminal, stdin: !!req.stdin, stdinOnce: !!req.stdinOnce,
        logPath: req.logPath ?? '', createdAt: Date.now(), pid: 0, creating: true,
      };
      const driver = this.driverFor(runtime, cgroupDriver);
      try {
        this.store.write(record);
        if (record.logPath) fs.mkdirSync(path.dirname(record.logPath), { recursive: true });
        record.pid = await driver.create(req.id, req.bundle, { dir, logPath: record.logPath, terminal: record.terminal, stdin: record.stdin });
        delete record.creating;
        this.store.write(record);
      } catch (err) {
        await driver.delete(req.id, true).catch(() => undefined);
        this.store.remove(req.id);
        throw err;
      }
      const task: Task = { record, init: new Proc(dir, req.id, ''), driver, execs: new Map() };
      this.tasks.set(req.id, task);
      await this.follow(task, task.init, () => record.pid);
      this.events.emit('create', { id: req.id, pid: record.pid });
      return record.pid;
    });
  }

  async start(ref: TaskRef): Promise<number> {
    const task = this.get(ref.id);
    if (ref.execId) throw invalid('exec_id', 'exec processes start with Exec');
    return this.locked(ref.id, async () => {
      if (task.init.exit) throw precondition(`task "${ref.id}" has stopped`);
      await task.driver.start(ref.id);
      task.record.startedAt = Date.now();
      this.store.write(task.record);
      await monitorCommand(task.init.dir, 'started').catch(() => undefined);
      this.events.emit('start', { id: ref.id, pid: task.record.pid });
      return task.record.pid;
    });
  }

  async kill(req: KillRequest): Promise<void> {
    const task = this.get(req.id);
    const signal = req.signal || 15;
    if (signal < 1 || signal > 64) throw invalid('signal', `${signal} is not a signal number between 1 and 64`);
    if (req.execId) {
      const ex = this.getExec(task, req.execId);
      if (ex.proc.exit) throw precondition(`exec "${req.execId}" has exited`);
      process.kill(ex.record.pid, signal);
      return;
    }
    if (task.init.exit && !req.all) throw precondition(`task "${req.id}" is not running`);
    await task.driver.kill(req.id, signal, !!req.all);
  }

  wait(ref: TaskRef): Promise<ExitStatus> {
    const task = this.get(ref.id);
    return ref.execId ? this.getExec(task, ref.execId).proc.exited : task.init.exited;
  }

  async delete(req: DeleteRequest): Promise<ExitStatus> {
    const task = this.get(req.id);
    if (req.execId) {
      const ex = this.getExec(task, req.execId);
      if (!ex.proc.exit) {
        if (!req.force) throw precondition(`exec "${req.execId}" is still running`);
        try { process.kill(ex.record.pid, 9); } catch { /* gone */ }
      }
      const exit = await withTimeout(ex.proc.exited, 10000, `exec "${req.execId}" did not exit`);
      task.execs.delete(req.execId);
      this.store.removeExec(req.id, req.execId);
      return exit;
    }
    return this.locked(req.id, async () => {
      const status = await this.statusOf(task);
      if ((status === 'running' || status === 'paused') && !req.force) throw precondition(`task "${req.id}" is ${status}: stop it first, or force`);
      // A created container was never started: deleting it is killing it.
      await task.driver.delete(req.id, status !== 'stopped');
      const exit = await withTimeout(task.init.exited, 10000, `task "${req.id}": its monitor did not finish`);
      for (const ex of task.execs.values()) {
        if (!ex.proc.exit) try { process.kill(ex.record.pid, 9); } catch { /* gone */ }
        await withTimeout(ex.proc.exited, 10000, `exec "${ex.record.execId}" did not exit`);
      }
      this.tasks.delete(req.id);
      this.store.remove(req.id);
      this.events.emit('delete', { id: req.id, pid: task.record.pid, exitCode: exit.exitCode });
      return exit;
    });
  }

  async exec(req: ExecRequest): Promise<number> {
    const task = this.get(req.id);
    validateTaskId(req.execId, 'exec_id');
    const status = await this.statusOf(task);
    if (status !== 'running') throw precondition(`cannot exec in a ${status} task "${req.id}"`);
    const proc = this.execProcess(task, req.process);
    if (task.execs.has(req.execId)) throw new BerthError('AlreadyExists', `exec "${req.execId}" already exists in task "${req.id}"`);
    const timeoutMs = req.attachTimeoutMs || DEFAULT_ATTACH_TIMEOUT_MS;
    if (req.attach && (timeoutMs < 1000 || timeoutMs > MAX_ATTACH_TIMEOUT_MS)) throw invalid('attach_timeout_ms', `${timeoutMs} is not between 1000 and ${MAX_ATTACH_TIMEOUT_MS}`);
    const waitAttachSeconds = req.attach ? Math.ceil(timeoutMs / 1000) : undefined;
    return this.startExec(task, req.execId, proc, { stdin: !!req.stdin, stdinOnce: !!req.stdinOnce, waitAttachSeconds });
  }

  async execSync(req: ExecSyncRequest): Promise<ExecSyncResponse> {
    const task = this.get(req.id);
    const status = await this.statusOf(task);
    if (status !== 'running') throw precondition(`cannot exec in a ${status} task "${req.id}"`);
    const proc = this.execProcess(task, req.process);
    if (proc.terminal) throw invalid('process.terminal', 'ExecSync has no terminal: use Exec and Attach');
    const execId = `sync-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const pid = await this.startExec(task, execId, proc, { stdin: false, stdinOnce: false, logFile: 'output.log', quiet: true });
    const ex = this.getExec(task, execId);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    if (req.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        try { process.kill(pid, 9); } catch { /* exited meanwhile */ }
      }, req.timeoutMs);
    }
    const exit = await ex.proc.exited.finally(() => clearTimeout(timer));
    const output = parseCriLog(path.join(ex.proc.dir, 'output.log'));
    task.execs.delete(execId);
    this.store.removeExec(req.id, execId);
    return { stdout: output.stdout, stderr: output.stderr, exitCode: exit.exitCode, timedOut };
  }

  async monitorDir(ref: TaskRef): Promise<{ dir: string; proc: Proc; stdinOnce: boolean; terminal: boolean }> {
    const task = this.get(ref.id);
    if (ref.execId) {
      const ex = this.getExec(task, ref.execId);
      return { dir: ex.proc.dir, proc: ex.proc, stdinOnce: ex.record.stdinOnce, terminal: ex.record.terminal };
    }
    return { dir: task.init.dir, proc: task.init, stdinOnce: task.record.stdinOnce, terminal: task.record.terminal };
  }

  async resize(ref: TaskRef, rows: number, cols: number): Promise<void> {
    const m = await this.monitorDir(ref);
    if (!m.terminal) throw precondition('the process has no terminal');
    if (m.proc.exit) throw precondition('the process has exited');
    await monitorCommand(m.dir, `resize ${rows} ${cols}`);
  }

  async closeStdin(ref: TaskRef): Promise<void> {
    const m = await this.monitorDir(ref);
    if (m.proc.exit) return;
    await monitorCommand(m.dir, 'closestdin');
  }

  async reopenLog(ref: TaskRef): Promise<void> {
    const task = this.get(ref.id);
    if (!task.record.logPath) throw precondition(`task "${ref.id}" has no log file`);
    if (task.init.exit) throw precondition(`task "${ref.id}" is not running`);
    await monitorCommand(task.init.dir, 'reopen');
  }

  async pause(ref: TaskRef): Promise<void> {
    const task = this.get(ref.id);
    await task.driver.pause(ref.id);
    this.events.emit('paused', { id: ref.id, pid: task.record.pid });
  }

  async resume(ref: TaskRef): Promise<void> {
    const task = this.get(ref.id);
    await task.driver.resume(ref.id);
    this.events.emit('resumed', { id: ref.id, pid: task.record.pid });
  }

  async update(id: string, resourcesJson: string): Promise<void> {
    const task = this.get(id);
    let resources: unknown;
    try {
      resources = JSON.parse(resourcesJson);
    } catch (err) {
      throw invalid('resources_json', `not JSON: ${(err as Error).message}`);
    }
    if (task.init.exit) throw precondition(`task "${id}" is not running`);
    await task.driver.update(id, resources);
  }

  async stats(id: string): Promise<TaskStats> {
    const task = this.get(id);
    if (task.init.exit) throw precondition(`task "${id}" is not running`);
    return task.driver.stats(id);
  }

  async state(ref: TaskRef): Promise<TaskState> {
    const task = this.get(ref.id);
    const r = task.record;
    const exit = task.init.exit;
    return {
      id: r.id, bundle: r.bundle, pid: r.pid, status: await this.statusOf(task), exitCode: exit?.exitCode ?? 0,
      createdAt: r.createdAt, startedAt: r.startedAt ?? 0, exitedAt: exit?.exitedAt ?? 0, oomKilled: exit?.oomKilled ?? false,
      runtime: r.runtime, terminal: r.terminal, logPath: r.logPath, execIds: [...task.execs.keys()],
    };
  }

  async list(): Promise<TaskState[]> {
    return Promise.all([...this.tasks.keys()].sort().map((id) => this.state({ id })));
  }

  /** Stops watching (for a clean shutdown of the shim; the monitors and containers carry on). */
  close(): void {
    for (const t of this.tasks.values()) {
      t.init.stopWatching();
      for (const e of t.execs.values()) e.proc.stopWatching();
    }
  }

  // ---- internals ----

  private async statusOf(task: Task): Promise<TaskStatus> {
    if (task.init.exit) return 'stopped';
    const s: OciStatus | undefined = await task.driver.status(task.record.id);
    if (s === 'creating' || s === 'created') return 'created';
    if (s === 'paused') return 'paused';
    // Stopped per the runtime, but the monitor has not reported yet: its report is moments away.
    return s === undefined || s === 'stopped' ? 'stopped' : 'running';
  }

  private execProcess(task: Task, p: ProcessSpec | undefined): Process {
    if (!p || !Array.isArray(p.args) || p.args.length === 0) throw invalid('process.args', 'must name the program to run');
    const base = task.driver.spec(task.record.id, task.record.bundle).process;
    if (!base) throw precondition(`task "${task.record.id}" has no process in its spec`);
    const proc: Process = {
      ...base,
      args: p.args,
      env: p.env && p.env.length ? p.env : base.env,
      cwd: p.cwd || base.cwd,
      user: p.hasUser && p.user ? { uid: p.user.uid, gid: p.user.gid, additionalGids: p.user.additionalGids ?? [] } : base.user,
      terminal: !!p.terminal,
    };
    // The container's own size never carries over; the caller's (a tty client's first resize) does.
    delete proc.consoleSize;
    if (p.terminal && p.consoleSize && p.consoleSize.rows > 0 && p.consoleSize.cols > 0) proc.consoleSize = { height: p.consoleSize.rows, width: p.consoleSize.cols };
    return proc;
  }

  private async startExec(task: Task, execId: string, proc: Process, o: { stdin: boolean; stdinOnce: boolean; logFile?: string; quiet?: boolean; waitAttachSeconds?: number }): Promise<number> {
    const dir = this.store.claimExec(task.record.id, execId);
    const record: ExecRecord = { id: task.record.id, execId, pid: 0, terminal: !!proc.terminal, stdin: o.stdin, stdinOnce: o.stdinOnce, createdAt: Date.now(), creating: true };
    const monitor: MonitorOptions = { dir, terminal: record.terminal, stdin: o.stdin, logPath: o.logFile ? path.join(dir, o.logFile) : undefined, waitAttachSeconds: o.waitAttachSeconds };
    try {
      this.store.writeExec(record);
      record.pid = await task.driver.exec(task.record.id, execId, proc, monitor);
      delete record.creating;
      this.store.writeExec(record);
    } catch (err) {
      this.store.removeExec(task.record.id, execId);
      throw err;
    }
    const p = new Proc(dir, task.record.id, execId);
    task.execs.set(execId, { record, proc: p });
    await this.follow(task, p, () => record.pid, o.quiet);
    await monitorCommand(dir, 'started').catch(() => undefined);
    if (!o.quiet) this.events.emit('exec_started', { id: task.record.id, execId, pid: record.pid });
    return record.pid;
  }

  /** Watches a monitor until its process exits; then records and announces the exit once. */
  private async follow(task: Task, proc: Proc, pid: () => number, quiet = false): Promise<void> {
    const onExit = (): void => {
      const rec = readExitRecord(proc.dir);
      const exit: ExitStatus = rec
        ? { id: proc.id, execId: proc.execId, pid: rec.pid || pid(), exitCode: rec.exitCode, exitedAt: Date.parse(rec.finishedAt) || Date.now(), oomKilled: rec.oomKilled }
        : { id: proc.id, execId: proc.execId, pid: pid(), exitCode: MONITOR_GONE_EXIT, exitedAt: Date.now(), oomKilled: false };
      if (!rec) this.log.warn('monitor ended without an exit record', { id: proc.id, execId: proc.execId });
      proc.setExit(exit);
      const record = proc.execId ? task.execs.get(proc.execId)?.record : task.record;
      if (!record || record.exitReported || quiet) return;
      // OOM kills the watch did not see (we were down): at least the process's own.
      if (!proc.execId) this.reportOom(task, Math.max(rec?.oomKills ?? 0, exit.oomKilled ? 1 : 0));
      this.events.emit(proc.execId ? 'exec_exited' : 'exit', { id: proc.id, execId: proc.execId, pid: exit.pid, exitCode: exit.exitCode, oomKilled: exit.oomKilled, timestamp: exit.exitedAt });
      record.exitReported = true;
      try {
        if (proc.execId) this.store.writeExec(record as ExecRecord);
        else this.store.write(record as TaskRecord);
      } catch {
        // Deleted meanwhile.
      }
    };
    if (readExitRecord(proc.dir)) {
      onExit();
      return;
    }
    // The container's memory cgroup is the execs' too: its init's monitor speaks for all of them.
    const watch = await watchMonitor(proc.dir, (kills) => { if (!proc.execId && !quiet) this.reportOom(task, kills); });
    proc.stopWatching = watch.close;
    let closed = false;
    proc.stopWatching = () => { closed = true; watch.close(); };
    void watch.done.then(() => { if (!closed) onExit(); });
  }

  /**
   * An "oom" event when the container's memory cgroup has had OOM kills (counted since its start) not yet
   * announced; the count is kept in task.json so that a restarted shim announces only new ones.
   */
  private reportOom(task: Task, kills: number): void {
    if (kills <= (task.record.oomReported ?? 0)) return;
    task.record.oomReported = kills;
    try {
      this.store.write(task.record);
    } catch {
      // Deleted meanwhile.
    }
    this.events.emit('oom', { id: task.record.id, pid: task.record.pid });
  }

  /** One driver per runtime and cgroup driver; both cgroup drivers share a runtime's state root. */
  private driverFor(runtime: string, cgroupDriver: CgroupDriverName = 'cgroupfs'): OciDriver {
    const key = `${cgroupDriver}:${runtime}`;
    let d = this.drivers.get(key);
    if (!d) {
      d = runtime === 'berth'
        ? new LibraryDriver(path.join(this.stateDir, 'berth-run'), this.log, cgroupDriver)
        : new CliDriver(runtime, path.join(this.stateDir, 'runtimes', runtime.replace(/[^A-Za-z0-9]+/g, '_')), cgroupDriver);
      this.drivers.set(key, d);
    }
    return d;
  }

  private get(id: string): Task {
    if (typeof id !== 'string' || !id) throw invalid('id', 'is required');
    const t = this.tasks.get(id);
    if (!t) throw notFound(`task "${id}" does not exist`);
    return t;
  }

  private getExec(task: Task, execId: string): { record: ExecRecord; proc: Proc } {
    const e = task.execs.get(execId);
    if (!e) throw notFound(`exec "${execId}" does not exist in task "${task.record.id}"`);
    return e;
  }

  /** One operation at a time per task id. */
  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(id, fn);
  }
}


function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new BerthError('DeadlineExceeded', message)), ms); })]).finally(() => clearTimeout(timer));
}
