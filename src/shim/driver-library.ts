/** The berth-run library in-process: no process per operation; berth-init is started through the monitor. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../common/errors';
import type { Logger } from '../common/log';
import { Runtime, type Process, type Spec } from '../oci';
import type { CgroupDriverName } from './driver-cli';
import type { OciDriver, OciStatus, TaskStats } from './driver';
import { consoleSocket, monitorArgs, monitorBinary, type MonitorOptions } from './monitor';

export class LibraryDriver implements OciDriver {
  readonly name = 'berth';
  private readonly runtime: Runtime;

  constructor(root: string, logger: Logger, cgroupDriver: CgroupDriverName = 'cgroupfs') {
    // One shim serves every container of the node: berth-spawner keeps its fork(2) cost off each start.
    this.runtime = new Runtime({ root, logger, spawner: true, cgroupDriver });
  }

  async create(id: string, bundle: string, monitor: MonitorOptions): Promise<number> {
    const err = fs.openSync(path.join(monitor.dir, 'monitor.err'), 'a', 0o600);
    try {
      const state = await this.runtime.create(id, {
        bundle,
        stdio: ['ignore', 'ignore', err],
        consoleSocket: monitor.terminal ? consoleSocket(monitor.dir) : undefined,
        launcher: { file: monitorBinary(), args: [...monitorArgs(monitor), '--init'] },
      });
      return state.pid ?? 0;
    } finally {
      fs.closeSync(err);
    }
  }

  start(id: string): Promise<void> {
    return this.runtime.start(id);
  }

  kill(id: string, signal: number, all: boolean): Promise<void> {
    return this.runtime.kill(id, signal, all);
  }

  async delete(id: string, force: boolean): Promise<void> {
    try {
      await this.runtime.delete(id, force);
    } catch (err) {
      if (!(err instanceof BerthError && err.kind === 'NotFound')) throw err;
    }
  }

  async status(id: string): Promise<OciStatus | undefined> {
    try {
      return this.runtime.state(id).status;
    } catch (err) {
      if (err instanceof BerthError && err.kind === 'NotFound') return undefined;
      throw err;
    }
  }

  pause(id: string): Promise<void> {
    return this.runtime.pause(id);
  }

  resume(id: string): Promise<void> {
    return this.runtime.resume(id);
  }

  update(id: string, resources: unknown): Promise<void> {
    return this.runtime.update(id, resources);
  }

  async stats(id: string): Promise<TaskStats> {
    const s = this.runtime.stats(id);
    return {
      cpuUsageNs: s.cpu?.usageNs ?? 0,
      memoryUsage: s.memory?.usage ?? 0,
      memoryWorkingSet: s.memory?.workingSet ?? 0,
      memoryLimit: s.memory?.limit ?? 0,
      pidsCurrent: s.pids?.current ?? 0,
      oomKills: s.memory?.oomKills ?? 0,
      raw: s,
    };
  }

  spec(id: string, _bundle: string): Spec {
    return this.runtime.store.readSpec(id);
  }

  async exec(id: string, _execId: string, proc: Process, monitor: MonitorOptions): Promise<number> {
    const err = fs.openSync(path.join(monitor.dir, 'monitor.err'), 'a', 0o600);
    try {
      const { pid } = await this.runtime.exec(id, proc, {
        detach: true,
        stdio: ['ignore', 'ignore', err],
        consoleSocket: monitor.terminal ? consoleSocket(monitor.dir) : undefined,
        launcher: { file: monitorBinary(), args: [...monitorArgs(monitor), '--init'] },
      });
      return pid;
    } finally {
      fs.closeSync(err);
    }
  }
}
