/** berth-shim's public face: the daemon's entry point (src/bin/berth-shim.ts) and the task API client berthd uses. */
export { runShim } from './daemon';
export { ShimClient, type ShimClientOptions } from './client';
export type {
  AttachInput, AttachOutput, CreateRequest, ExecRequest, ExecSyncResponse, ExitStatus, ProcessSpec, Size, StatsResponse, TaskEvent, TaskState, TaskStatus,
} from './types';
