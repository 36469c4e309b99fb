/**
 * Shared material of the shim suites: a berth-shim started for real on a temp state directory, a client, the
 * busybox bundles, and checks that nothing is left behind (monitors, cgroups, state).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ShimClient } from '../../src/shim/client';
import { connectUnix } from '../../src/shim/unix';
import type { Spec } from '../../src/oci/spec/types';
import { makeBundle, REPO, requireTools, tempDir } from '../helpers/oci';

export const SHIM = path.join(REPO, 'build', 'bin', 'berth-shim');
export const MONITOR = path.join(REPO, 'build', 'bin', 'berth-monitor');
export const RUNC = '/usr/sbin/runc';
/** The runtimes every suite runs with: the berth-run library in-process, and Debian's runc by path. */
export const RUNTIMES: [string, string][] = [['berth-run library', 'berth'], ['runc', RUNC]];

let crunWrapper: string | undefined;
/**
 * Debian's crun (1.8.1) as a runtime binary. It refuses this hybrid host while the cgroup2 mount has
 * controllers, so on such a host every call goes through a wrapper that hides
 * /sys/fs/cgroup/unified/cgroup.controllers in a private mount namespace (as test/helpers/oci.ts peerCommand
 * does); unshare execs crun in place, so the monitor's launcher is still crun itself.
 */
export function crunRuntime(): string {
  requireTools('crun', 'unshare');
  if (crunWrapper) return crunWrapper;
  const unified = '/sys/fs/cgroup/unified/cgroup.controllers';
  const file = path.join(tempDir('bshim-crun-'), 'crun');
  const body = fs.existsSync(unified)
    ? `#!/bin/sh\nexec unshare -m --propagation private sh -c 'mount --bind /dev/null ${unified} && exec /usr/bin/crun "$@"' crun "$@"\n`
    : '#!/bin/sh\nexec /usr/bin/crun "$@"\n';
  fs.writeFileSync(file, body, { mode: 0o755 });
  return (crunWrapper = file);
}

export function requireShimTools(): void {
  requireTools('runc');
  for (const f of [SHIM, MONITOR]) if (!fs.existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\``);
}

let counter = 0;
export function taskId(prefix = 'shim'): string {
  return `${prefix}-${process.pid}-${++counter}`;
}

/** A busybox bundle running `sh -c script`. */
export function shBundle(script: string, mutate: (s: Spec) => void = () => undefined): string {
  return makeBundle((s) => {
    s.process!.args = ['sh', '-c', script];
    mutate(s);
  });
}

export class ShimUnderTest {
  readonly stateDir: string;
  proc?: ChildProcess;
  client!: ShimClient;

  constructor() {
    // Short: grpc needs the socket path under 108 bytes.
    this.stateDir = tempDir('bshim-');
  }

  async start(): Promise<ShimClient> {
    const out = fs.openSync(path.join(this.stateDir, 'shim.log'), 'a');
    this.proc = spawn(SHIM, ['--state', this.stateDir, '--log-level', 'debug'], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const deadline = Date.now() + 15000;
    // A shim killed with -9 leaves its socket file: wait for one that accepts connections.
    const listening = (): Promise<boolean> => connectUnix(path.join(this.stateDir, 'shim.sock')).then((s) => { s.destroy(); return true; }, () => false);
    while (!(await listening())) {
      if (Date.now() > deadline || this.proc.exitCode !== null) throw new Error(`berth-shim did not start:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const old = this.client;
    this.client = await ShimClient.connect({ stateDir: this.stateDir, autoStart: false });
    old?.close();
    return this.client;
  }

  /** kill -9: no chance to clean anything up. */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.stateDir, 'shim.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Force-deletes every task, stops the shim, and kills any monitor of ours that is still around. */
  async cleanup(): Promise<void> {
    try {
      if (this.proc && this.proc.exitCode === null) {
        for (const t of await this.client.list()) await this.client.delete({ id: t.id, force: true }).catch(() => undefined);
      }
    } finally {
      await this.kill9();
      this.client?.close();
      for (const pid of monitorsOf(this.stateDir)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      for (const runtimeRoot of [path.join(this.stateDir, 'berth-run'), ...listDirs(path.join(this.stateDir, 'runtimes'))]) {
        for (const id of listDirs(runtimeRoot).map((d) => path.basename(d))) {
          const binary = runtimeRoot.endsWith('berth-run') ? path.join(REPO, 'build', 'bin', 'berth-run') : runtimeRoot.endsWith('_crun') && crunWrapper ? crunWrapper : RUNC;
          spawnSync(binary, ['--root', runtimeRoot, 'delete', '--force', id]);
        }
      }
    }
  }
}

function listDirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join(dir, d.name));
  } catch {
    return [];
  }
}

/** Pids of berth-monitor processes working under stateDir. */
export function monitorsOf(stateDir: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (cmd[0].endsWith('berth-monitor') && cmd.some((a) => a.startsWith(stateDir))) out.push(Number(p));
    } catch {
      // exited
    }
  }
  return out;
}

/** cgroup directories named after the id, in any hierarchy. */
export function cgroupsOf(id: string): string[] {
  const out: string[] = [];
  for (const h of listDirs('/sys/fs/cgroup')) {
    const walk = (dir: string, depth: number): void => {
      for (const d of listDirs(dir)) {
        if (path.basename(d).includes(id)) out.push(d);
        else if (depth < 3) walk(d, depth + 1);
      }
    };
    walk(h, 0);
  }
  return out;
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}
