/** A runc-compatible binary (runc, crun, berth-run, …) through its command line, as containerd's shim uses it. */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../common/errors';
import type { Process, Spec } from '../oci';
import type { OciDriver, OciStatus, TaskStats } from './driver';
import { consoleSocket, runUnderMonitor, type MonitorOptions } from './monitor';

interface RunResult { code: number; stdout: string; stderr: string }

export type CgroupDriverName = 'cgroupfs' | 'systemd';

export class CliDriver implements OciDriver {
  /** Global flags of every call: the state root, and systemd's cgroup management when asked (containerd's SystemdCgroup). */
  private readonly global: string[];

  constructor(readonly name: string, private readonly root: string, cgroupDriver: CgroupDriverName = 'cgroupfs') {
    this.global = ['--root', root, ...(cgroupDriver === 'systemd' ? ['--systemd-cgroup'] : [])];
  }

  private run(args: string[], input?: string): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = execFile(this.name, [...this.global, ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  private async must(args: string[], input?: string): Promise<string> {
    const r = await this.run(args, input);
    if (r.code !== 0) throw new BerthError('FailedPrecondition', `${path.basename(this.name)} ${args[0]}: ${cleanError(r.stderr) || `exit status ${r.code}`}`);
    return r.stdout;
  }

  async create(id: string, bundle: string, monitor: MonitorOptions): Promise<number> {
    const log = path.join(monitor.dir, 'runtime.log');
    const args = [this.name, ...this.global, '--log', log, '--log-format', 'json', 'create', '--bundle', bundle, '--pid-file', path.join(monitor.dir, 'pid')];
    if (monitor.terminal) args.push('--console-socket', consoleSocket(monitor.dir));
    try {
      return await runUnderMonitor(monitor, [...args, id]);
    } catch (err) {
      await this.run(['delete', '--force', id]);
      throw new BerthError('FailedPrecondition', `${path.basename(this.name)} create: ${lastLoggedError(log) ?? (err as Error).message}`);
    }
  }

  async start(id: string): Promise<void> {
    await this.must(['start', id]);
  }

  async kill(id: string, signal: number, all: boolean): Promise<void> {
    await this.must(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  async delete(id: string, force: boolean): Promise<void> {
    const r = await this.run(['delete', ...(force ? ['--force'] : []), id]);
    if (r.code !== 0 && (await this.status(id)) !== undefined) {
      throw new BerthError('FailedPrecondition', `${path.basename(this.name)} delete: ${cleanError(r.stderr)}`);
    }
  }

  async status(id: string): Promise<OciStatus | undefined> {
    const r = await this.run(['state', id]);
    if (r.code !== 0) return undefined;
    return (JSON.parse(r.stdout) as { status: OciStatus }).status;
  }

  async pause(id: string): Promise<void> {
    await this.must(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.must(['resume', id]);
  }

  async update(id: string, resources: unknown): Promise<void> {
    // A file rather than "-": crun opens /dev/stdin, which fails on the socket Node gives a child as stdin.
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    const file = path.join(this.root, `.update-${id}-${process.pid}-${Date.now()}.json`);
    fs.writeFileSync(file, JSON.stringify(resources), { mode: 0o600 });
    try {
      await this.must(['update', '--resources', file, id]);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  async stats(id: string): Promise<TaskStats> {
    const r = await this.run(['events', '--stats', id]);
    if (r.code !== 0 && /unknown command/i.test(r.stderr)) {
      throw new BerthError('Unimplemented', `${path.basename(this.name)} has no \`events --stats\`: Stats needs runc or the berth runtime`);
    }
    const out = await this.must(['events', '--stats', id]);
    interface RuncStats {
      data?: {
        cpu?: { usage?: { total?: number } };
        memory?: { usage?: { usage?: number; limit?: number }; stats?: Record<string, number> };
        pids?: { current?: number };
      };
    }
    const s = (JSON.parse(out) as RuncStats).data ?? {};
    const usage = s.memory?.usage?.usage ?? 0;
    const inactiveFile = s.memory?.stats?.total_inactive_file ?? s.memory?.stats?.inactive_file ?? 0;
    return {
      cpuUsageNs: s.cpu?.usage?.total ?? 0,
      memoryUsage: usage,
      memoryWorkingSet: Math.max(0, usage - inactiveFile),
      memoryLimit: s.memory?.usage?.limit ?? 0,
      pidsCurrent: s.pids?.current ?? 0,
      oomKills: s.memory?.stats?.oom_kill ?? 0,
      raw: s,
    };
  }

  /** runc keeps no copy of the spec: it is read from the bundle again. */
  spec(_id: string, bundle: string): Spec {
    return JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as Spec;
  }

  async exec(id: string, _execId: string, proc: Process, monitor: MonitorOptions): Promise<number> {
    const processFile = path.join(monitor.dir, 'process.json');
    fs.writeFileSync(processFile, JSON.stringify(proc), { mode: 0o600 });
    const log = path.join(monitor.dir, 'runtime.log');
    const args = [this.name, ...this.global, '--log', log, '--log-format', 'json', 'exec', '--detach', '--process', processFile, '--pid-file', path.join(monitor.dir, 'pid')];
    if (monitor.terminal) args.push('--console-socket', consoleSocket(monitor.dir));
    try {
      return await runUnderMonitor(monitor, [...args, id]);
    } catch (err) {
      throw new BerthError('FailedPrecondition', `${path.basename(this.name)} exec: ${lastLoggedError(log) ?? (err as Error).message}`);
    }
  }
}

function cleanError(stderr: string): string {
  return stderr.trim().split('\n').filter((l) => l.trim()).pop()?.replace(/^time=".*?" level=\w+ msg="(.*)"$/, '$1') ?? '';
}

function lastLoggedError(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let msg: string | undefined;
  for (const line of text.split('\n')) {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'error' && entry.msg) msg = entry.msg;
    } catch {
      // not JSON
    }
  }
  return msg;
}
