/** The gRPC face of the task manager on <state>/shim.sock: decoding, error mapping, streams. */
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { invalid } from '../common/errors';
import { failStream, listenUnix, unary } from '../common/grpc';
import type { Logger } from '../common/log';
import type { EventBus } from './events';
import { attachMonitor, FrameReader, monitorCommand } from './monitor';
import { taskService } from './proto';
import type { TaskManager } from './tasks';
import type { AttachInput, AttachOutput, CreateRequest, DeleteRequest, ExecRequest, ExecSyncRequest, KillRequest, ResizeRequest, StatsResponse, TaskEvent, TaskRef, UpdateRequest } from './types';

export function taskHandlers(tasks: TaskManager, events: EventBus, log: Logger): grpc.UntypedServiceImplementation {
  const empty = {};
  return {
    Create: unary(log, 'Create', async (r: CreateRequest) => ({ pid: await tasks.create(r) })),
    Start: unary(log, 'Start', async (r: TaskRef) => ({ pid: await tasks.start(r) })),
    Kill: unary(log, 'Kill', async (r: KillRequest) => { await tasks.kill(r); return empty; }),
    Delete: unary(log, 'Delete', (r: DeleteRequest) => tasks.delete(r)),
    Exec: unary(log, 'Exec', async (r: ExecRequest) => ({ pid: await tasks.exec(r) })),
    ExecSync: unary(log, 'ExecSync', (r: ExecSyncRequest) => tasks.execSync(r)),
    ResizePty: unary(log, 'ResizePty', async (r: ResizeRequest) => { await tasks.resize(r, r.size?.rows ?? 0, r.size?.cols ?? 0); return empty; }),
    CloseStdin: unary(log, 'CloseStdin', async (r: TaskRef) => { await tasks.closeStdin(r); return empty; }),
    Pause: unary(log, 'Pause', async (r: TaskRef) => { await tasks.pause(r); return empty; }),
    Resume: unary(log, 'Resume', async (r: TaskRef) => { await tasks.resume(r); return empty; }),
    Update: unary(log, 'Update', async (r: UpdateRequest) => { await tasks.update(r.id, r.resourcesJson); return empty; }),
    ReopenLog: unary(log, 'ReopenLog', async (r: TaskRef) => { await tasks.reopenLog(r); return empty; }),
    Stats: unary(log, 'Stats', async (r: TaskRef): Promise<StatsResponse> => {
      const s = await tasks.stats(r.id);
      return { cpuUsageNs: s.cpuUsageNs, memoryUsage: s.memoryUsage, memoryWorkingSet: s.memoryWorkingSet, memoryLimit: s.memoryLimit, pidsCurrent: s.pidsCurrent, oomKills: s.oomKills, json: JSON.stringify(s.raw), timestamp: Date.now() };
    }),
    State: unary(log, 'State', (r: TaskRef) => tasks.state(r)),
    List: unary(log, 'List', async () => ({ tasks: await tasks.list() })),
    Wait: (call: grpc.ServerWritableStream<TaskRef, unknown>) => {
      let exited;
      try {
        exited = tasks.wait(call.request);
      } catch (err) {
        failStream(call, err);
        return;
      }
      exited.then((e) => { call.write(e); call.end(); }, (err) => failStream(call, err));
    },
    Events: (call: grpc.ServerWritableStream<{ replay?: boolean }, TaskEvent>) => {
      const off = events.subscribe((e) => call.write(e), !!call.request.replay);
      call.on('cancelled', off);
      call.on('close', off);
    },
    Attach: (call: grpc.ServerDuplexStream<AttachInput, AttachOutput>) => attach(call, tasks),
  };
}

/** Relays one attach between the gRPC stream and the monitor's attach socket. */
function attach(call: grpc.ServerDuplexStream<AttachInput, AttachOutput>, tasks: TaskManager): void {
  let queue = Promise.resolve();
  let sock: import('node:net').Socket | undefined;
  let dir = '';
  let inputOnce = false;
  let done = false;
  const finish = (err?: unknown): void => {
    if (done) return;
    done = true;
    sock?.destroy();
    if (err) failStream(call, err);
    else call.end();
  };
  const handle = async (msg: AttachInput): Promise<void> => {
    if (done) return;
    if (!sock) {
      if (!msg.target?.id) throw invalid('target', 'the first message must name the process');
      const m = await tasks.monitorDir(msg.target);
      if (m.proc.exit) {
        call.write({ stream: 'STDOUT', data: Buffer.alloc(0), exited: true, exitCode: m.proc.exit.exitCode });
        finish();
        return;
      }
      dir = m.dir;
      inputOnce = !!msg.stdin && m.stdinOnce;
      sock = await attachMonitor(dir, { stdin: !!msg.stdin, once: m.stdinOnce });
      const reader = new FrameReader((f) => {
        if (f.stream === 3) {
          call.write({ stream: 'STDOUT', data: Buffer.alloc(0), exited: true, exitCode: f.data.readInt32BE(0) });
          finish();
        } else {
          call.write({ stream: f.stream === 2 ? 'STDERR' : 'STDOUT', data: Buffer.from(f.data), exited: false, exitCode: 0 });
        }
      });
      sock.on('data', (b: Buffer) => reader.push(b));
      sock.on('close', () => finish());
      sock.on('error', () => finish());
    }
    if (msg.data && msg.data.length) sock.write(msg.data);
    if (msg.resize && (msg.resize.rows || msg.resize.cols)) await monitorCommand(dir, `resize ${msg.resize.rows} ${msg.resize.cols}`);
    if (msg.closeStdin) {
      // With stdin-once, ending our input half-closes the attach connection: the monitor closes the process's
      // stdin after writing all that came before. A separate closestdin command could overtake that data.
      if (inputOnce) sock.end();
      else await monitorCommand(dir, 'closestdin');
    }
  };
  call.on('data', (msg: AttachInput) => {
    queue = queue.then(() => handle(msg)).catch((err) => finish(err));
  });
  call.on('end', () => { queue = queue.then(() => { sock?.end(); }); });
  call.on('cancelled', () => finish());
}

/** Serves the task API on a root-only unix socket (a stale one replaced); resolves once listening. */
export async function serve(socketPath: string, handlers: grpc.UntypedServiceImplementation, log: Logger): Promise<grpc.Server> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 32 << 20, 'grpc.max_send_message_length': 32 << 20 });
  server.addService(taskService().service, handlers);
  fs.rmSync(socketPath, { force: true });
  await listenUnix(server, socketPath, log);
  return server;
}
