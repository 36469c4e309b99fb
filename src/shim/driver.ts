/**
 * The OCI runtime behind one container: the berth-run library in this process, or a runc-compatible CLI.
 * Either way berth-monitor starts the process and stays its parent.
 */
import type { Process, Spec } from '../oci';
import type { MonitorOptions } from './monitor';

export type OciStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** What Stats reports, whichever runtime and cgroup version it comes from. */
export interface TaskStats {
  cpuUsageNs: number;
  memoryUsage: number;
  memoryWorkingSet: number;
  memoryLimit: number;
  pidsCurrent: number;
  oomKills: number;
  raw: unknown;
}

export interface OciDriver {
  /** "berth" or the binary's path. */
  readonly name: string;
  /** Creates the container with the monitor as its parent; resolves with its pid. */
  create(id: string, bundle: string, monitor: MonitorOptions): Promise<number>;
  start(id: string): Promise<void>;
  kill(id: string, signal: number, all: boolean): Promise<void>;
  delete(id: string, force: boolean): Promise<void>;
  /** undefined when the runtime does not know the container. */
  status(id: string): Promise<OciStatus | undefined>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  update(id: string, resources: unknown): Promise<void>;
  stats(id: string): Promise<TaskStats>;
  /** The spec the container was created from (exec processes start from its process). */
  spec(id: string, bundle: string): Spec;
  /** Starts a process in the container, under its own monitor; resolves with its pid. */
  exec(id: string, execId: string, process: Process, monitor: MonitorOptions): Promise<number>;
}
