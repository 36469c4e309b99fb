/**
 * `--service-manager direct`: berthd as a host process the agent supervises (tests, several nodes on one
 * machine; no systemd involved).
 *
 * - Started detached: its own session (setsid), stdio to /var/log/berth/berthd.log, not tied to the agent, so
 *   an agent that exits or restarts leaves it (and everything under it) running.
 * - Recorded in `<state>/berthd.agent.pid` (record.ts). A new agent adopts the berthd it finds — by the record,
 *   else by a process whose command line is a berthd with `--config <this node's config>` — when its socket
 *   answers CRI Version, it reports the wanted version, was started from the wanted binary (when recorded) and
 *   its config file hash is unchanged. Otherwise it is restarted. The binary cannot be compared by
 *   /proc/<pid>/exe, which is node for every bundled program: the record keeps the script's path.
 * - Signals go to berthd's exact PID (start time checked), never to its process group: its berth-shim and the
 *   monitors are in its session and must outlive it, so that containers survive a berthd restart.
 * - berthd dying unasked is restarted after 1 s, doubling up to 30 s while it keeps dying; a berthd that ran
 *   for a minute starts the count again.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import { Logger, silentLogger } from '../../common/log';
import { sha256Hex } from '../install/config';
import type { Layout } from '../install/layout';
import { currentVersion } from '../install/stack';
import { checkBerthd, type BerthdHealth } from './health';
import { allPids, cmdline, identify, isAlive, type ProcessId, terminate } from './proc';
import { type BerthdRecord, readRecord, RECORD_NAME, removeRecord, writeRecord } from './record';
import type { BerthdService, EnsureResult } from './types';

export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A berthd that ran this long before dying starts the backoff again. */
  readonly resetAfterMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 };

export interface DirectServiceOptions {
  readonly layout: Layout;
  /** CRI runtime_version berthd must report to be kept; undefined: any. */
  readonly version?: string;
  /** berthd to run (daemon view); default `/opt/berth/<current's version>/bin/berthd`. */
  readonly binary?: string;
  /** Extra environment for berthd (PATH is passed on, nothing else of the agent's). */
  readonly env?: Readonly<Record<string, string>>;
  readonly log?: Logger;
  readonly backoff?: Backoff;
  /** How long berthd may take to answer CRI Version after a start; default 30 s. */
  readonly startTimeoutMs?: number;
  /** SIGTERM → SIGKILL; default 15 s (berthd lets calls in flight finish for 10 s). */
  readonly stopGraceMs?: number;
  /** How often an adopted berthd (not our child) is checked for life; default 1 s. */
  readonly pollMs?: number;
}

interface Desired {
  readonly binary: string;
  readonly configFile: string;
  readonly configHash: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The value of `--config` in an argv (`--config X` or `--config=X`). */
function configArg(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') return argv[i + 1];
    if (argv[i].startsWith('--config=')) return argv[i].slice('--config='.length);
  }
  return undefined;
}

export class DirectService implements BerthdService {
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly recordFile: string;
  /** The berthd we look after, once started or adopted. */
  private current?: BerthdRecord;
  private startedAt = 0;
  private crashes = 0;
  private timer?: NodeJS.Timeout;
  private restartTimer?: NodeJS.Timeout;
  private closed = false;
  /** ensure(), restarts after a crash and stop() run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  /** How many times berthd was restarted after dying unasked (metrics, tests). */
  crashRestarts = 0;

  constructor(private readonly o: DirectServiceOptions) {
    this.log = o.log ?? silentLogger;
    this.backoff = o.backoff ?? DEFAULT_BACKOFF;
    this.recordFile = path.join(o.layout.agent.state, RECORD_NAME);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The berthd it supervises now (undefined: none). */
  get pid(): number | undefined {
    return this.current && isAlive(this.current) ? this.current.pid : undefined;
  }

  private desired(): Desired {
    const { layout } = this.o;
    let binary = this.o.binary;
    if (!binary) {
      const v = currentVersion(layout);
      if (!v) throw new BerthError('FailedPrecondition', `no stack is installed (${path.join(layout.agent.stacks, 'current')} is missing)`);
      binary = path.join(layout.daemon.stacks, v, 'bin', 'berthd');
    }
    let configHash: string;
    try {
      configHash = sha256Hex(fs.readFileSync(layout.agent.config));
    } catch (err) {
      throw new BerthError('FailedPrecondition', `berthd's config ${layout.agent.config}: ${(err as Error).message}`, { cause: err });
    }
    return { binary, configFile: layout.daemon.config, configHash };
  }

  /** The berthd running for this host root, if any: the recorded one, else one found by its command line. */
  private find(desired: Desired): { record?: BerthdRecord; id: ProcessId; binary: string } | undefined {
    const rec = readRecord(this.recordFile);
    if (rec && isAlive(rec)) return { record: rec, id: rec, binary: rec.binary };
    for (const pid of allPids()) {
      if (pid === process.pid) continue;
      const argv = cmdline(pid);
      const i = argv.findIndex((a) => path.basename(a) === 'berthd');
      if (i < 0 || configArg(argv.slice(i + 1)) !== desired.configFile) continue;
      const id = identify(pid);
      if (id) return { id, binary: argv[i] };
    }
    return undefined;
  }

  /** Version answered within `ms` (berthd may be starting still). */
  private async answers(ms: number): Promise<BerthdHealth | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const h = await checkBerthd(this.o.layout.agent.socket, 2000);
      if (h.answered) return h;
      if (Date.now() >= deadline) return undefined;
      await sleep(200);
    }
  }

  ensure(): Promise<EnsureResult> {
    return this.serial(() => this.ensureNow(false));
  }

  /**
   * Takes on a berthd already running for this host root without starting or restarting anything; undefined
   * when none runs. Call it before rewriting the config on a node whose berthd the agent did not start (an
   * earlier install, hack/cluster's), so that the config it runs with is known: the file as it is now.
   */
  adopt(): Promise<EnsureResult | undefined> {
    return this.serial(() => this.ensureNow(true));
  }

  private async ensureNow(adoptOnly: true): Promise<EnsureResult | undefined>;
  private async ensureNow(adoptOnly: false): Promise<EnsureResult>;
  private async ensureNow(adoptOnly: boolean): Promise<EnsureResult | undefined> {
    if (this.closed) throw new BerthError('FailedPrecondition', 'the berthd supervisor is closed');
    const desired = this.desired();
    const found = this.find(desired);
    if (!found) {
      if (adoptOnly) return undefined;
      const r = await this.start(desired);
      return { action: 'started', pid: r.pid, reason: 'no berthd was running' };
    }
    const h = await this.answers(10_000);
    const why: string[] = [];
    if (!h) why.push('it does not answer CRI Version');
    else if (this.o.version !== undefined && h.version !== this.o.version) why.push(`it reports version ${h.version}, wanted ${this.o.version}`);
    if (found.record && found.record.binary !== desired.binary) why.push(`it runs ${found.record.binary}, wanted ${desired.binary}`);
    // One found without our record: its config is taken to be the file as it was when first seen.
    const hash = found.record?.configHash ?? (this.current?.pid === found.id.pid ? this.current.configHash : desired.configHash);
    if (hash !== desired.configHash) why.push('its config changed');
    // Adopting only takes note of what runs; the next ensure() judges it.
    if (adoptOnly) why.length = 0;
    const self = this.current?.pid === found.id.pid && this.current.startTime === found.id.startTime;
    if (why.length === 0) {
      const rec: BerthdRecord = found.record ?? { ...found.id, binary: found.binary, configFile: desired.configFile, configHash: desired.configHash, version: h?.version ?? '', origin: 'adopted' };
      if (!found.record) writeRecord(this.recordFile, rec);
      if (!self) {
        this.current = rec;
        this.startedAt = Date.now();
        this.watch();
        this.log.info('berthd adopted', { pid: rec.pid, version: rec.version, binary: rec.binary });
      }
      return { action: self ? 'running' : 'adopted', pid: rec.pid, reason: self ? 'unchanged' : `berthd ${rec.pid} runs the wanted binary and config` };
    }
    const reason = why.join('; ');
    this.log.info('restarting berthd', { pid: found.id.pid, reason });
    this.current = undefined;
    await terminate(found.id, this.o.stopGraceMs ?? 15_000);
    removeRecord(this.recordFile);
    const r = await this.start(desired);
    return { action: 'restarted', pid: r.pid, reason };
  }

  private async start(desired: Desired): Promise<BerthdRecord> {
    const { layout } = this.o;
    fs.mkdirSync(layout.agent.state, { recursive: true, mode: 0o700 });
    fs.mkdirSync(layout.agent.logDir, { recursive: true, mode: 0o755 });
    const logFile = path.join(layout.agent.logDir, 'berthd.log');
    const out = fs.openSync(logFile, 'a', 0o640);
    let child;
    try {
      child = spawn(desired.binary, ['--config', desired.configFile], {
        detached: true,
        stdio: ['ignore', out, out],
        env: { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...(this.o.env ?? {}) },
      });
    } finally {
      fs.closeSync(out);
    }
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    child.unref();
    const pid = child.pid;
    const id = pid === undefined ? undefined : identify(pid);
    if (!id) {
      const err = await Promise.race([spawnError, sleep(100).then(() => undefined)]);
      throw new BerthError('Unavailable', `berthd ${desired.binary} did not start: ${err?.message ?? 'exited at once'} (log: ${logFile})`);
    }
    let rec: BerthdRecord = { ...id, binary: desired.binary, configFile: desired.configFile, configHash: desired.configHash, version: '', origin: 'started' };
    writeRecord(this.recordFile, rec);
    this.current = rec;
    this.startedAt = Date.now();
    child.once('exit', () => this.onMaybeDead());
    this.watch();
    const deadline = Date.now() + (this.o.startTimeoutMs ?? 30_000);
    for (;;) {
      if (!isAlive(id)) throw new BerthError('Unavailable', `berthd exited during start-up: ${tail(logFile)}`);
      const h = await checkBerthd(layout.agent.socket, 2000);
      if (h.answered) {
        rec = { ...rec, version: h.version };
        writeRecord(this.recordFile, rec);
        this.current = rec;
        this.log.info('berthd started', { pid: rec.pid, version: rec.version, binary: rec.binary });
        return rec;
      }
      if (Date.now() > deadline) {
        await terminate(id, 2000);
        throw new BerthError('DeadlineExceeded', `berthd did not answer on ${layout.agent.socket} within ${this.o.startTimeoutMs ?? 30_000} ms: ${tail(logFile)}`);
      }
      await sleep(100);
    }
  }

  private watch(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.onMaybeDead(), this.o.pollMs ?? 1000);
    this.timer.unref();
  }

  /** A look at the supervised berthd; gone unasked → a restart after the backoff. */
  private onMaybeDead(): void {
    const cur = this.current;
    if (this.closed || !cur || this.restartTimer || isAlive(cur)) return;
    this.current = undefined;
    const ranMs = Date.now() - this.startedAt;
    if (ranMs >= this.backoff.resetAfterMs) this.crashes = 0;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.crashes);
    this.crashes++;
    this.log.warn('berthd died; restarting', { pid: cur.pid, ranMs, delayMs: delay });
    this.scheduleRestart(delay);
  }

  private scheduleRestart(delay: number): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed) return;
      void this.serial(async () => {
        if (this.closed || (this.current && isAlive(this.current))) return;
        try {
          await this.start(this.desired());
          this.crashRestarts++;
        } catch (err) {
          this.log.error('berthd restart failed', { error: (err as Error).message });
          this.current = undefined;
          const next = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.crashes);
          this.crashes++;
          this.scheduleRestart(next);
        }
      });
    }, delay);
    this.restartTimer.unref();
  }

  health(): Promise<BerthdHealth> {
    return checkBerthd(this.o.layout.agent.socket);
  }

  /** Stops berthd by its exact PID (its shim and containers stay) and forgets it. */
  stop(): Promise<void> {
    return this.serial(async () => {
      this.close();
      const rec = readRecord(this.recordFile) ?? this.current;
      this.current = undefined;
      if (rec) await terminate(rec, this.o.stopGraceMs ?? 15_000);
      removeRecord(this.recordFile);
    });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.timer = undefined;
    this.restartTimer = undefined;
  }
}

/** The end of a log file, for an error message. */
function tail(file: string, bytes = 2000): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-bytes).trim() || '(log empty)';
  } catch {
    return '(no log)';
  }
}
