/** The task API's messages as TypeScript sees them (proto-loader: camelCase fields, longs as numbers). */
import type { TaskStats } from './driver';

export interface TaskRef { id: string; execId?: string }

export interface CreateRequest {
  id: string;
  bundle: string;
  /** "" or "berth": the berth-run library in-process; otherwise a runc-compatible binary's path. */
  runtime?: string;
  terminal?: boolean;
  stdin?: boolean;
  stdinOnce?: boolean;
  logPath?: string;
  /** "" or "cgroupfs" (default), or "systemd". */
  cgroupDriver?: string;
}

export interface KillRequest { id: string; execId?: string; signal?: number; all?: boolean }
export interface DeleteRequest { id: string; execId?: string; force?: boolean }

export interface ExitStatus {
  id: string;
  execId: string;
  pid: number;
  exitCode: number;
  /** Unix milliseconds. */
  exitedAt: number;
  oomKilled: boolean;
}

export interface User { uid: number; gid: number; additionalGids?: number[] }

export interface ProcessSpec {
  args: string[];
  env?: string[];
  cwd?: string;
  user?: User;
  hasUser?: boolean;
  terminal?: boolean;
  consoleSize?: Size | null;
}

export interface ExecRequest {
  id: string;
  execId: string;
  process: ProcessSpec;
  stdin?: boolean;
  stdinOnce?: boolean;
  /** The client will Attach: output and exit wait for it (at most attachTimeoutMs, default 60 s). */
  attach?: boolean;
  attachTimeoutMs?: number;
}
export interface ExecSyncRequest { id: string; process: ProcessSpec; timeoutMs?: number }
export interface ExecSyncResponse { stdout: Buffer; stderr: Buffer; exitCode: number; timedOut: boolean }

export interface Size { rows: number; cols: number }
export interface AttachInput { target?: TaskRef; stdin?: boolean; data?: Buffer; resize?: Size; closeStdin?: boolean }
export interface AttachOutput { stream: 'STDOUT' | 'STDERR'; data: Buffer; exited: boolean; exitCode: number }

export interface ResizeRequest { id: string; execId?: string; size: Size }
export interface UpdateRequest { id: string; resourcesJson: string }

/** TaskStats on the wire: the runtime's raw figures as JSON, and when they were read. */
export interface StatsResponse extends Omit<TaskStats, 'raw'> {
  json: string;
  timestamp: number;
}

export type TaskStatus = 'created' | 'running' | 'paused' | 'stopped';

export interface TaskState {
  id: string;
  bundle: string;
  pid: number;
  status: TaskStatus;
  exitCode: number;
  createdAt: number;
  startedAt: number;
  exitedAt: number;
  oomKilled: boolean;
  runtime: string;
  terminal: boolean;
  logPath: string;
  execIds: string[];
}

export type EventType = 'create' | 'start' | 'exit' | 'oom' | 'exec_started' | 'exec_exited' | 'delete' | 'paused' | 'resumed';

export interface TaskEvent {
  type: EventType;
  id: string;
  execId: string;
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  timestamp: number;
}
