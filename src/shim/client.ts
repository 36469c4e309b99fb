/**
 * The task API client berthd uses: connects to <state>/shim.sock, starts berth-shim when none is listening,
 * and after a shim restart reconnects (a call that finds no shim starts one and is retried once).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BerthError } from '../common/errors';
import { fromServiceError } from '../common/grpc';
import { taskService, withNumbers } from './proto';
import type {
  AttachInput, AttachOutput, CreateRequest, DeleteRequest, ExecRequest, ExecSyncRequest, ExecSyncResponse, ExitStatus, KillRequest,
  ResizeRequest, StatsResponse, TaskEvent, TaskRef, TaskState, UpdateRequest,
} from './types';
import { connectUnix } from './unix';

export interface ShimClientOptions {
  stateDir: string;
  /** The berth-shim executable; default: beside this bundle, or build/bin in the source tree. */
  shimBinary?: string;
  /** Start a shim when none is listening (default true). */
  autoStart?: boolean;
  startTimeoutMs?: number;
  /**
   * How long Wait and Events keep trying to reach a shim again after theirs went away (default 60 s). With
   * autoStart they start one; without, they wait for someone else to.
   */
  reconnectTimeoutMs?: number;
}

/** Stream errors that come from the shim's logic, not from losing it: these end a Wait instead of a retry. */
const FINAL_CODES = new Set<number>([grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.FAILED_PRECONDITION, grpc.status.PERMISSION_DENIED, grpc.status.UNIMPLEMENTED]);

export class ShimClient {
  readonly socket: string;
  private client: grpc.Client;
  /** Counts channels made: a stream that lost its shim replaces the channel only if no one else did since. */
  private generation = 0;

  private constructor(private readonly options: ShimClientOptions) {
    this.socket = path.join(options.stateDir, 'shim.sock');
    this.client = this.makeClient();
  }

  static async connect(options: ShimClientOptions): Promise<ShimClient> {
    const c = new ShimClient(options);
    await c.ensureShim();
    return c;
  }

  create(req: CreateRequest): Promise<{ pid: number }> { return this.unary('create', req); }
  start(ref: TaskRef): Promise<{ pid: number }> { return this.unary('start', ref); }
  kill(req: KillRequest): Promise<void> { return this.unary('kill', req); }
  delete(req: DeleteRequest): Promise<ExitStatus> { return this.unary('delete', req); }
  exec(req: ExecRequest): Promise<{ pid: number }> { return this.unary('exec', req); }
  execSync(req: ExecSyncRequest): Promise<ExecSyncResponse> { return this.unary('execSync', req); }
  resizePty(req: ResizeRequest): Promise<void> { return this.unary('resizePty', req); }
  closeStdin(ref: TaskRef): Promise<void> { return this.unary('closeStdin', ref); }
  pause(ref: TaskRef): Promise<void> { return this.unary('pause', ref); }
  resume(ref: TaskRef): Promise<void> { return this.unary('resume', ref); }
  update(req: UpdateRequest): Promise<void> { return this.unary('update', req); }
  stats(ref: TaskRef): Promise<StatsResponse> { return this.unary('stats', ref); }
  state(ref: TaskRef): Promise<TaskState> { return this.unary('state', ref); }
  reopenLog(ref: TaskRef): Promise<void> { return this.unary('reopenLog', ref); }
  async list(): Promise<TaskState[]> { return (await this.unary<object, { tasks: TaskState[] }>('list', {})).tasks; }

  /**
   * Resolves with the exit status once the process has exited. When the shim goes away meanwhile, the wait is
   * made again on the next shim (which finds an exit that happened in between in the monitor's exit record).
   */
  async wait(ref: TaskRef): Promise<ExitStatus> {
    for (;;) {
      const generation = this.generation;
      const r = await new Promise<{ exit: ExitStatus } | { lost: grpc.ServiceError | undefined }>((resolve, reject) => {
        const stream = this.method<TaskRef, grpc.ClientReadableStream<ExitStatus>>('wait')(ref);
        let got: ExitStatus | undefined;
        stream.on('data', (e: ExitStatus) => { got = withNumbers(e); });
        stream.on('error', (err: grpc.ServiceError) => (FINAL_CODES.has(err.code) ? reject(fromServiceError(err)) : resolve({ lost: err })));
        stream.on('end', () => resolve(got ? { exit: got } : { lost: undefined }));
      });
      if ('exit' in r) return r.exit;
      await this.reconnect(r.lost, generation);
    }
  }

  /**
   * Calls onEvent for each event until the returned function is called. When the shim goes away, the stream
   * is opened again on the next one with replay, which brings what that shim announced before we got there
   * (exits and OOM kills it found at start-up); events of a shim that died before sending them are lost.
   */
  events(onEvent: (e: TaskEvent) => void, replay = false): () => void {
    let stream: grpc.ClientReadableStream<TaskEvent> | undefined;
    let stopped = false;
    const open = (withReplay: boolean): void => {
      if (stopped) return;
      const generation = this.generation;
      const s = this.method<{ replay: boolean }, grpc.ClientReadableStream<TaskEvent>>('events')({ replay: withReplay });
      stream = s;
      let lost = false;
      const resume = (err?: grpc.ServiceError): void => {
        if (lost || stopped) return;
        lost = true;
        this.reconnect(err, generation).then(() => open(true), () => undefined);
      };
      s.on('data', (e: TaskEvent) => onEvent(withNumbers(e)));
      s.on('error', (err: grpc.ServiceError) => resume(err));
      s.on('end', () => resume());
    };
    open(replay);
    return () => {
      stopped = true;
      stream?.cancel();
    };
  }

  /** A raw attach stream: write AttachInput (target first), read AttachOutput. */
  attach(): grpc.ClientDuplexStream<AttachInput, AttachOutput> {
    return this.method<never, grpc.ClientDuplexStream<AttachInput, AttachOutput>>('attach')();
  }

  close(): void {
    this.client.close();
  }

  /** Makes sure a shim listens on the socket, starting one if allowed. */
  async ensureShim(): Promise<void> {
    if (await this.listening()) return;
    if (this.options.autoStart === false) throw new BerthError('Unavailable', `no berth-shim listens on ${this.socket}`);
    fs.mkdirSync(this.options.stateDir, { recursive: true, mode: 0o700 });
    const out = fs.openSync(path.join(this.options.stateDir, 'shim.log'), 'a', 0o600);
    const child = spawn(this.options.shimBinary ?? shimBinary(), ['--state', this.options.stateDir], { detached: true, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    child.unref();
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 15000);
    let exited = false;
    child.once('exit', () => { exited = true; });
    while (Date.now() < deadline) {
      if (await this.listening()) {
        this.client.close();
        this.client = this.makeClient();
        return;
      }
      // Another client may have started the shim at the same time: its shim wins, ours exits.
      if (exited && (await this.listening())) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new BerthError('Unavailable', `berth-shim did not start listening on ${this.socket} (see ${path.join(this.options.stateDir, 'shim.log')})`);
  }

  /** After a stream lost its shim: waits until one listens again (starting it if allowed). */
  private async reconnect(cause: grpc.ServiceError | undefined, generation: number): Promise<void> {
    const deadline = Date.now() + (this.options.reconnectTimeoutMs ?? 60000);
    for (;;) {
      try {
        if (this.options.autoStart === false) {
          if (!(await this.listening())) throw new BerthError('Unavailable', `no berth-shim listens on ${this.socket}`);
        } else {
          await this.ensureShim();
        }
        // A fresh channel (the old one may be backing off from the dead socket), unless one was made since.
        if (this.generation === generation) {
          this.client.close();
          this.client = this.makeClient();
        }
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          throw new BerthError('Unavailable', `lost berth-shim on ${this.socket}${cause ? ` (${cause.details || cause.message})` : ''} and none came back: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private async listening(): Promise<boolean> {
    try {
      const s = await connectUnix(this.socket);
      s.destroy();
      return true;
    } catch {
      return false;
    }
  }

  private makeClient(): grpc.Client {
    this.generation++;
    const Ctor = taskService();
    return new Ctor(`unix://${this.socket}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 32 << 20 });
  }

  private method<Req, Res>(name: string): (req?: Req) => Res {
    const fn = (this.client as unknown as Record<string, (req?: Req) => Res>)[name];
    return fn.bind(this.client);
  }

  /**
   * One call; when no shim answers, waits for one (starting it if allowed) and tries again on a fresh channel.
   * A few tries: a shim that just took the socket over from a dead one can still refuse the first connection.
   */
  private async unary<Req, Res>(name: string, req: Req, triesLeft = 3): Promise<Res> {
    const generation = this.generation;
    try {
      return await new Promise<Res>((resolve, reject) => {
        const fn = (this.client as unknown as Record<string, (r: Req, cb: (e: grpc.ServiceError | null, res: Res) => void) => void>)[name];
        fn.call(this.client, req, (err, res) => (err ? reject(err) : resolve(withNumbers(res))));
      });
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (triesLeft > 1 && e.code === grpc.status.UNAVAILABLE) {
        await this.reconnect(e, generation);
        return this.unary(name, req, triesLeft - 1);
      }
      throw fromServiceError(e);
    }
  }
}

function shimBinary(): string {
  const candidates = [process.env.BERTH_SHIM, path.join(__dirname, 'berth-shim')];
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) {
      candidates.push(path.join(dir, 'build', 'bin', 'berth-shim'));
      break;
    }
  }
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  throw new BerthError('FailedPrecondition', 'berth-shim not found: run `npm run build` or set BERTH_SHIM');
}
