/**
 * The berth-run library: the OCI runtime operations (runtime.md) over container records under `root`.
 * The CLI (src/oci/cli) and berth-shim call this same code; nothing here prints or exits.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { StdioOptions } from 'node:child_process';
import { writeFileAtomic } from '../../common/atomic';
import { BerthError, invalid, notFound, precondition } from '../../common/errors';
import { Logger, silentLogger } from '../../common/log';
import { nativeBinary } from '../../common/native';
import { buildExecPlan, buildInitPlan, hasMountNamespace, hasRuntimeHooks, resolveRootfs } from '../plan/build';
import { parseConfigJson, validateResources } from '../spec/validate';
import type { Process, Resources, Spec, State, Status } from '../spec/types';
import { cgroupForSpec, cgroupFromRecord, cgroupMountSource, cgroupResources, migrationPrimer, ownCgroupFiles, type Cgroup, type CgroupDriver, type CgroupStats } from './cgroup';
import { Helper, helperError, type Launcher } from './helper';
import { detachHostMounts, mountsAt } from './host-mounts';
import { poststartFailureIsError, runHooks, runHooksWarning } from './hooks';
import { isAlive, isStillInit, readProcStat, signalNumber, waitForExit } from './proc';
import { Spawner } from './spawner';
import { ContainerStore, validateId, type ContainerRecord } from './store';

export type { Launcher };

export const DEFAULT_ROOT = '/run/berth-run';

export interface RuntimeOptions {
  root?: string;
  logger?: Logger;
  /** For new containers; existing ones keep the driver they were created with. */
  cgroupDriver?: CgroupDriver;
  /**
   * Start berth-init through a berth-spawner kept for this Runtime (see spawner.ts): for long-lived callers
   * (berth-shim, berthd), whose own fork(2) would cost milliseconds per container. Call close() when done.
   */
  spawner?: boolean;
}

type Stdio = [StdioOptions[number], StdioOptions[number], StdioOptions[number]];

export interface CreateOptions {
  bundle: string;
  consoleSocket?: string;
  pidFile?: string;
  noPivot?: boolean;
  /** Extra fds (after stdio) handed to the container as 3, 4, … */
  preserveFds?: number[];
  /** The container's stdio; defaults to this process's. */
  stdio?: Stdio;
  /** Runs berth-init through this program (berth-shim's monitor), which becomes the container's parent. */
  launcher?: Launcher;
}

export interface ExecOptions {
  consoleSocket?: string;
  pidFile?: string;
  detach?: boolean;
  preserveFds?: number[];
  stdio?: Stdio;
  launcher?: Launcher;
}

export interface ContainerInfo extends State {
  created: string;
  rootfs: string;
}

export class Runtime {
  readonly store: ContainerStore;
  private readonly log: Logger;
  private readonly cgroupDriver: CgroupDriver;
  private readonly useSpawner: boolean;
  private spawner?: Spawner;

  constructor(options: RuntimeOptions = {}) {
    this.store = new ContainerStore(path.resolve(options.root ?? DEFAULT_ROOT));
    this.log = options.logger ?? silentLogger;
    this.cgroupDriver = options.cgroupDriver ?? 'cgroupfs';
    this.useSpawner = options.spawner ?? false;
  }

  /** Stops the spawner, if any; containers are not affected. */
  close(): void {
    this.spawner?.close();
    this.spawner = undefined;
  }

  /** The spawner, started (again) on demand; undefined when not wanted or not possible. */
  private liveSpawner(): Spawner | undefined {
    if (!this.useSpawner) return undefined;
    if (this.spawner?.alive) return this.spawner;
    try {
      this.spawner = Spawner.start(nativeBinary('berth-spawner', 'BERTH_SPAWNER'), this.store.root);
    } catch (err) {
      this.log.warn('berth-spawner could not start; starting berth-init directly', { error: String(err) });
      this.spawner = undefined;
    }
    return this.spawner;
  }

  /** create: everything up to the point where only the user's program is left to exec. */
  async create(id: string, options: CreateOptions): Promise<State> {
    const { helper, record, spec } = await this.setUp(id, options, { foreground: false, startNow: false });
    helper.close();
    this.log.info('container created', { id, pid: record.pid });
    return this.toState(record, spec, 'created');
  }

  /** start: tell the waiting init to exec the user's program; poststart hooks follow. */
  async start(id: string): Promise<void> {
    const record = this.store.read(id);
    const status = this.statusOf(record);
    if (status !== 'created') {
      throw precondition(status === 'stopped' ? 'cannot start a container that has stopped' : `cannot start an already ${status} container`);
    }
    await this.triggerStart(id);
    record.started = true;
    this.store.write(record);
    await this.poststart(record, this.store.readSpec(id));
  }

  /** run: create + start; in the foreground it resolves with the container's exit status. */
  async run(id: string, options: CreateOptions & { detach?: boolean }): Promise<number> {
    // The program starts as soon as it is created: no start socket, no second round trip.
    const { helper, record, spec } = await this.setUp(id, options, { foreground: !options.detach, startNow: true });
    helper.close();
    try {
      await this.poststart(record, spec);
    } catch (err) {
      // As runc's run: a container that failed to start is not left behind.
      await this.destroy(record, spec).catch((cleanupErr) => this.log.warn('cleanup after failed start', { id, error: String(cleanupErr) }));
      throw err;
    }
    if (options.detach) return 0;
    const code = await helper.exited;
    await this.destroy(record, spec).catch((err) => this.log.warn('cleanup after run failed', { id, error: String(err) }));
    return code;
  }

  state(id: string): ContainerInfo {
    const record = this.store.read(id);
    let spec: Spec | undefined;
    try {
      spec = this.store.readSpec(id);
    } catch {
      spec = undefined;
    }
    return { ...this.toState(record, spec, this.statusOf(record)), created: record.created, rootfs: record.rootfs };
  }

  list(): ContainerInfo[] {
    const out: ContainerInfo[] = [];
    for (const id of this.store.list()) {
      try {
        out.push(this.state(id));
      } catch (err) {
        // Gone meanwhile, or not a container of ours (another runtime sharing --root): not listed.
        if (!(err instanceof BerthError && err.kind === 'NotFound')) this.log.warn('skipping an entry that is not a readable container', { id, error: String(err) });
      }
    }
    return out;
  }

  async kill(id: string, signal: string | number = 'SIGTERM', all = false): Promise<void> {
    const sig = signalNumber(signal);
    // Checked here, not by kill(2): EINVAL from the kernel would not say which argument was wrong.
    if (!Number.isInteger(sig) || sig < 1 || sig > 64) throw invalid('signal', `${JSON.stringify(String(signal))} is not a signal number between 1 and 64`);
    const record = this.store.read(id);
    const status = this.statusOf(record);
    if (status === 'stopped' || status === 'creating') throw precondition('container not running');
    if (all) {
      cgroupFromRecord(record).killAll(sig);
      return;
    }
    process.kill(record.pid, sig);
  }

  /** delete: only a stopped container, unless forced (then it is killed first). */
  async delete(id: string, force = false): Promise<void> {
    validateId(id);
    if (!this.store.exists(id)) {
      // A create that died before writing its state leaves a bare directory; --force clears it as runc does.
      if (force) {
        this.store.remove(id);
        return;
      }
      throw notFound(`container "${id}" does not exist`);
    }
    const record = this.store.read(id);
    const status = this.statusOf(record);
    if (status !== 'stopped' && !force) throw precondition(`cannot delete container ${id} that is not stopped: ${status}`);
    await this.destroy(record);
  }

  async pause(id: string): Promise<void> {
    const record = this.store.read(id);
    const status = this.statusOf(record);
    if (status !== 'running' && status !== 'created') throw precondition(`container ${id} is not running: ${status}`);
    cgroupFromRecord(record).freeze();
  }

  async resume(id: string): Promise<void> {
    const record = this.store.read(id);
    if (this.statusOf(record) !== 'paused') throw precondition(`container ${id} is not paused`);
    cgroupFromRecord(record).thaw();
  }

  /** Pids of every process in the container's cgroup. */
  ps(id: string): number[] {
    const record = this.store.read(id);
    if (this.statusOf(record) === 'stopped') return [];
    return cgroupFromRecord(record).pids();
  }

  stats(id: string): CgroupStats {
    const record = this.store.read(id);
    return cgroupFromRecord(record).stats();
  }

  oomKills(id: string): number {
    return cgroupFromRecord(this.store.read(id)).oomKillCount();
  }

  /** update: new resource limits, applied to the cgroup and kept in the stored spec. */
  async update(id: string, resources: unknown): Promise<void> {
    const r = validateResources(resources, 'resources');
    const record = this.store.read(id);
    if (this.statusOf(record) === 'stopped') throw precondition(`container ${id} is stopped`);
    const spec = this.store.readSpec(id);
    const merged: Resources = mergeResources(spec.linux?.resources ?? {}, r);
    await cgroupFromRecord(record).update(merged);
    spec.linux = { ...spec.linux, resources: merged };
    this.store.writeSpec(id, spec);
  }

  /** exec: a new process in the container's namespaces and cgroup. Resolves once it runs. */
  async exec(id: string, proc: Process, options: ExecOptions = {}): Promise<{ pid: number; exited: Promise<number> }> {
    const record = this.store.read(id);
    const status = this.statusOf(record);
    if (status === 'stopped' || status === 'creating') throw precondition(`cannot exec in a ${status} container`);
    if (status === 'paused') throw precondition('cannot exec in a paused container');
    const spec = this.store.readSpec(id);
    const cgroup = cgroupFromRecord(record);
    const cgroupJoin = cgroup.joinFiles();
    const plan = buildExecPlan({
      spec, process: proc, pid: record.pid, rootfs: record.rootfs, consoleSocket: options.consoleSocket, foreground: !options.detach,
      preserveFds: options.preserveFds?.length, cgroupJoin, cgroupLeave: options.detach ? undefined : ownCgroupFiles(),
    });
    const helper = await Helper.start({ stdio: options.stdio ?? ['inherit', 'inherit', 'inherit'], extraFds: options.preserveFds, launcher: options.launcher, spawner: this.liveSpawner() });
    try {
      if (!cgroupJoin) await cgroup.addProcess(helper.pid);
      helper.sendPlan(plan);
      const pid = Number(await helper.expect('pid', 'exec'));
      if (options.pidFile) writeFileAtomic(path.resolve(options.pidFile), String(pid), 0o644);
      await helper.expect('started', 'exec');
      return { pid, exited: helper.exited };
    } catch (err) {
      helper.kill('SIGKILL');
      throw err;
    }
  }

  /** The container's status, derived from its process; never trusted from the record alone. */
  statusOf(record: ContainerRecord): Status {
    // `creator` is cleared when create finishes: while it is set, the container is being created, or the
    // create died half-way (kill -9) and the container can never start — stopped, for `delete` to clean up.
    if (record.creator) return isAlive(record.creator.pid, record.creator.startTime) ? 'creating' : 'stopped';
    if (!record.pid || !isAlive(record.pid, record.pidStartTime)) return 'stopped';
    if (!record.started && isStillInit(record.pid)) return 'created';
    try {
      if (cgroupFromRecord(record).state() === 'frozen') return 'paused';
    } catch {
      // A cgroup that cannot be read does not change whether the process runs.
    }
    return 'running';
  }

  private toState(record: ContainerRecord, spec: Spec | undefined, status: Status): State {
    const state: State = { ociVersion: record.ociVersion, id: record.id, status, bundle: record.bundle };
    if (status !== 'stopped' && record.pid) state.pid = record.pid;
    const annotations = record.annotations ?? spec?.annotations;
    if (annotations && Object.keys(annotations).length) state.annotations = annotations;
    return state;
  }

  /** Validates everything first, so that bad input leaves nothing behind, then builds the container. */
  private async setUp(id: string, options: CreateOptions, how: { foreground: boolean; startNow: boolean }): Promise<{ helper: Helper; record: ContainerRecord; spec: Spec }> {
    validateId(id);
    // cgroupfs: berth-init joins the container's cgroups itself. On cgroup v1 the first move after a quiet
    // spell waits for an RCU grace period (~7 ms); taking the migration lock now, with a harmless move (see
    // spawner.c / `--prime-cgroup` in berth-init.c), overlaps that wait with everything until the joins.
    const primer = this.cgroupDriver === 'cgroupfs' && !options.launcher ? migrationPrimer() : undefined;
    const spawner = this.liveSpawner();
    if (spawner && primer) spawner.prime(primer);
    const bundle = path.resolve(options.bundle);
    const configFile = path.join(bundle, 'config.json');
    let text: string;
    try {
      text = fs.readFileSync(configFile, 'utf8');
    } catch (err) {
      throw invalid('bundle', `cannot read ${configFile}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    const spec = parseConfigJson(text, configFile, (field, message) => this.log.warn(`${field}: ${message}`));
    const rootfs = resolveRootfs(spec, bundle);
    if (this.store.exists(id) || fs.existsSync(this.store.dir(id))) throw new BerthError('AlreadyExists', `container with id exists: ${id}`);
    // berth-init starts as early as possible, and everything up to its first report overlaps with the work
    // below: its exec and re-exec from a sealed copy; its joins into the container's cgroups as soon as it
    // has the plan; its clone while the limits are written (they are in place before "go", before anything
    // runs in the container). It exits by itself if this process dies (end of file on its socket).
    const starting = Helper.start({
      stdio: options.stdio ?? ['inherit', 'inherit', 'inherit'], extraFds: options.preserveFds, launcher: options.launcher,
      primeCgroup: spawner ? undefined : primer, spawner,
    });
    let helper: Helper | undefined;
    const discardHelper = async (): Promise<void> => {
      const h = helper ?? (await starting.catch(() => undefined));
      if (!h) return;
      h.close();
      h.kill('SIGKILL');
      await h.exited;
    };
    let cgroup: Cgroup;
    let cgroupJoin: string[] | undefined;
    let plan: Buffer;
    try {
      cgroup = cgroupForSpec(spec, id, this.cgroupDriver);
      // cgroupfs: berth-init joins by itself; systemd: the first addProcess() makes the unit.
      cgroupJoin = cgroup.joinFiles();
      plan = buildInitPlan({
        spec, bundle, startSocket: how.startNow ? undefined : this.store.startSocket(id), consoleSocket: options.consoleSocket,
        noPivot: options.noPivot, foreground: how.foreground, preserveFds: options.preserveFds?.length, cgroup: cgroupMountSource(spec, cgroup), cgroupJoin,
        cgroupLeave: how.foreground ? ownCgroupFiles() : undefined,
      });
      this.store.claim(id);
    } catch (err) {
      await discardHelper();
      throw err;
    }

    const me = readProcStat(process.pid);
    const record: ContainerRecord = {
      id, bundle, rootfs, pid: 0, creator: { pid: process.pid, startTime: me?.startTime }, created: new Date().toISOString(),
      ociVersion: spec.ociVersion, annotations: spec.annotations, cgroupPaths: { ...cgroup.paths }, cgroupDriver: this.cgroupDriver,
    };
    if (!hasMountNamespace(spec)) record.hostMounts = { baseline: mountsAt(rootfs) };
    try {
      // The record precedes the cgroup, so that `delete --force` after a crash knows what to remove.
      this.store.writeSpec(id, spec);
      this.store.write(record);
      cgroup.create();
      helper = await starting;
      if (cgroupJoin) helper.sendPlan(plan);
      cgroup.apply(cgroupResources(spec));
      if (!cgroupJoin) {
        await cgroup.addProcess(helper.pid);
        helper.sendPlan(plan);
      }
      record.pid = Number(await helper.expect('pid', 'create'));
      record.pidStartTime = readProcStat(record.pid)?.startTime;
      // Hooks may take long, and `state` during them shows the pid. Without hooks the pid is recorded once,
      // below: a create killed before that leaves a record whose creator is gone (status stopped), and
      // `delete --force` kills whatever is in the cgroup.
      const h = spec.hooks;
      if (h?.prestart?.length || h?.createRuntime?.length || h?.createContainer?.length) this.store.write(record);
      const state = this.toState(record, spec, 'creating');
      helper.send(`go ${JSON.stringify({ ...state, status: 'created' })}`);
      if (hasRuntimeHooks(spec)) {
        // runtime.md: after the environment (mounts included) exists, before the pivot, in our namespaces.
        await helper.expect('mounted', 'create');
        await runHooks(spec.hooks?.prestart, state, 'prestart');
        await runHooks(spec.hooks?.createRuntime, state, 'createRuntime');
        helper.send('hooked');
      }
      await helper.expect('created', 'create');
      if (options.pidFile) writeFileAtomic(path.resolve(options.pidFile), String(record.pid), 0o644);
      if (how.startNow) {
        await helper.expect('started', 'start');
        record.started = true;
      }
      delete record.creator;
      this.store.write(record);
      return { helper, record, spec };
    } catch (err) {
      helper?.close();
      if (record.pid) {
        try { process.kill(record.pid, 'SIGKILL'); } catch { /* already gone */ }
        await waitForExit(record.pid, record.pidStartTime, 5000);
      }
      await discardHelper();
      try {
        await cgroup.remove();
      } catch (cleanupErr) {
        this.log.warn('cgroup cleanup after failed create', { id, error: String(cleanupErr) });
      }
      if (record.hostMounts) detachHostMounts(rootfs, record.hostMounts.baseline);
      this.store.remove(id);
      throw err;
    }
  }

  private async triggerStart(id: string): Promise<void> {
    const reply = await connectAndRead(this.store.startSocket(id));
    const lines = reply.split('\n').filter((l) => l !== '');
    const error = lines.find((l) => l.startsWith('error '));
    if (error) throw helperError(error.slice(6));
    if (!lines.includes('started')) throw precondition('container exited before it could start');
  }

  private async poststart(record: ContainerRecord, spec: Spec): Promise<void> {
    const state = this.toState(record, spec, 'running');
    if (!poststartFailureIsError(spec.ociVersion)) {
      // runtime.md 1.0: a failing poststart hook is a warning; the other hooks run and the container keeps running.
      await runHooksWarning(spec.hooks?.poststart, state, 'poststart', (err) => this.log.warn('poststart hook failed', { id: record.id, error: err.message }));
      return;
    }
    try {
      await runHooks(spec.hooks?.poststart, state, 'poststart');
    } catch (err) {
      // runtime.md 1.1 on: generate an error and stop the container; delete undoes the rest (lifecycle step 12).
      await this.stopProcesses(record);
      throw err;
    }
  }

  /**
   * SIGKILL for the container's init and everything in its cgroup (thawed, so that a paused one can die);
   * true once init is gone.
   */
  private async stopProcesses(record: ContainerRecord): Promise<boolean> {
    if (isAlive(record.pid, record.pidStartTime)) {
      try { process.kill(record.pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
    }
    try {
      const cgroup = cgroupFromRecord(record);
      // An empty cgroup needs no freezing and signalling: the common case, a container that exited.
      if (cgroup.pids().length > 0) {
        cgroup.killAll(9);
        if (cgroup.state() === 'frozen') cgroup.thaw();
      }
    } catch {
      // Nothing left to kill, or the cgroup never existed.
    }
    return !record.pid || waitForExit(record.pid, record.pidStartTime, 10000);
  }

  private async destroy(record: ContainerRecord, knownSpec?: Spec): Promise<void> {
    const cgroup = cgroupFromRecord(record);
    const spec = knownSpec ?? (() => { try { return this.store.readSpec(record.id); } catch { return undefined; } })();
    if (!(await this.stopProcesses(record))) {
      throw new BerthError('Internal', `container ${record.id}: process ${record.pid} did not exit after SIGKILL`);
    }
    await cgroup.remove();
    if (record.hostMounts) detachHostMounts(record.rootfs, record.hostMounts.baseline);
    if (spec?.hooks?.poststop) {
      // runtime.md: a failing poststop hook is a warning, and the remaining hooks still run.
      await runHooksWarning(spec.hooks.poststop, this.toState(record, spec, 'stopped'), 'poststop', (err) => this.log.warn('poststop hook failed', { id: record.id, error: err.message }));
    }
    this.store.remove(record.id);
  }
}

/** Connects to the start socket and reads until the container closes it (by exec'ing, or after an error). */
function connectAndRead(socketPath: string): Promise<string> {
  let dirFd: number | undefined;
  let target = socketPath;
  if (socketPath.length >= 100) {
    dirFd = fs.openSync(path.dirname(socketPath), 'r');
    target = `/proc/self/fd/${dirFd}/${path.basename(socketPath)}`;
  }
  return new Promise<string>((resolve, reject) => {
    let data = '';
    const sock = net.createConnection({ path: target });
    sock.on('data', (b) => { data += b.toString(); });
    sock.on('end', () => resolve(data));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      reject(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE'].includes(err.code ?? '') ? precondition('container is not waiting to start (its init process has exited)') : err);
    });
  }).finally(() => {
    if (dirFd !== undefined) fs.closeSync(dirFd);
  });
}

function mergeResources(base: Resources, update: Resources): Resources {
  const out: Resources = { ...base };
  for (const [key, value] of Object.entries(update) as [keyof Resources, unknown][]) {
    if (value === undefined) continue;
    const prev = base[key];
    (out as Record<string, unknown>)[key] = prev && typeof prev === 'object' && !Array.isArray(prev) && typeof value === 'object' && !Array.isArray(value) ? { ...prev, ...value } : value;
  }
  return out;
}
