/** Exec and attach, whatever the transport: which streams a request opens, and its outcome as a status. */
import type { Logger } from '../../common/log';
import type { AttachStreamRequest, ExecStreamRequest, StreamingBackend, StreamIo } from './backend';
import { exitCodeStatus, internalErrorStatus, successStatus, type StreamStatus } from './status';

export type RemoteCommandJob = { kind: 'exec'; request: ExecStreamRequest } | { kind: 'attach'; request: AttachStreamRequest };

export interface StreamFlags {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** A terminal has one output: stderr is dropped with tty, as the kubelet does. */
export function streamFlags(r: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): StreamFlags {
  return { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr && !r.tty, tty: r.tty };
}

export async function runRemoteCommand(job: RemoteCommandJob, backend: StreamingBackend, io: StreamIo, log: Logger): Promise<StreamStatus> {
  try {
    if (job.kind === 'exec') {
      const code = await backend.exec(job.request, io);
      return code === 0 ? successStatus() : exitCodeStatus(code);
    }
    await backend.attach(job.request, io);
    return successStatus();
  } catch (err) {
    const what = job.kind === 'exec' ? 'error executing command in container' : 'error attaching to container';
    if (!io.signal.aborted) log.warn(`streaming: ${what}`, { container: job.request.containerId, error: (err as Error).message });
    return internalErrorStatus(`${what}: ${(err as Error).message}`);
  }
}
