/** Containers: their records on disk and the name index, looked up by id or unique id prefix. */
import * as path from 'node:path';
import type { Logger } from '../../common/log';
import type { ContainerConfig, LinuxContainerResources } from '../types';
import { NamedRecords } from './records';

/**
 * creating: CreateContainer has begun and not finished (a restart removes it); created, running, exited as in
 * the CRI; the exit facts come from the shim's exit events (or its records after a restart).
 */
export type ContainerRecordState = 'creating' | 'created' | 'running' | 'exited';

export interface ContainerRecord {
  id: string;
  sandboxId: string;
  /** The unique name: `<name>_<sandbox name>_<attempt>`. */
  name: string;
  config: ContainerConfig;
  /** The image id (config digest) and the reference the kubelet asked for. */
  imageId: string;
  imageRef: string;
  imageName: string;
  state: ContainerRecordState;
  /** Unix nanoseconds as decimal strings; "0" until it happens. */
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  /** `Completed`, `Error`, `OOMKilled`, or why it could not start. */
  reason: string;
  message: string;
  pid: number;
  /** Absolute log path (the sandbox's log directory + the container's log_path); "" for none. */
  logPath: string;
  /** The OCI bundle: config.json and the mounted rootfs. */
  bundle: string;
  /** "berth" or the path of a runc-compatible binary. */
  runtime: string;
  /** The resolved user, as ContainerStatus reports it. */
  user: { uid: number; gid: number; supplementalGroups: number[] };
  /** The CRI resources the container runs with (UpdateContainerResources changes them). */
  resources: LinuxContainerResources | null;
  /** Writable-layer keys of the image volumes (`<id>-v<N>`), each mounted read-only under the bundle. */
  volumes: string[];
  /** The image's StopSignal ("" = SIGTERM). */
  stopSignal: string;
}

export function containerName(config: ContainerConfig, sandboxName: string): string {
  const m = config.metadata!;
  return `${m.name}_${sandboxName}_${m.attempt}`;
}

export class ContainerStore extends NamedRecords<ContainerRecord> {
  constructor(root: string, log: Logger) {
    super(path.join(root, 'containers'), 'container', log);
  }

  ofSandbox(sandboxId: string): ContainerRecord[] {
    return this.all().filter((c) => c.sandboxId === sandboxId);
  }
}
