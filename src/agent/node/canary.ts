/**
 * The canary: one real container through a handler's runtime binary before the node advertises the handler.
 * Its rootfs is berth-canary alone (a static program from the stack that prints one line), so no image and no
 * registry are needed. The container gets its own PID, IPC, UTS, mount and network namespaces and a read-only
 * root, runs with the runtime's own state root in a temp dir, and is deleted whatever happens.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { CanaryResult } from '../api/types';
import type { HostExec } from './host-exec';

const EXPECTED = 'berth-canary: ok';

export interface CanaryOptions {
  /** The runtime binary, as the host sees it. */
  binary: string;
  /** berth-canary, as the agent sees it (it is copied into the rootfs). */
  canaryProgram: string;
  /** A host directory for the bundle and the runtime's state; the canary makes and removes a subdirectory. */
  workDir: string;
  host: HostExec;
  timeoutSeconds: number;
  systemdCgroup?: boolean;
  now(): Date;
}

interface Ran { code: number | null; stdout: string; stderr: string; timedOut: boolean }

function run(file: string, args: string[], timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr: stderr || (e && typeof e.code === 'string' ? e.message : ''), timedOut: Boolean(e?.killed) });
    });
  });
}

function spec(): Record<string, unknown> {
  return {
    // 1.0.2: the newest version every runc-compatible runtime in use accepts (Debian's crun refuses later ones).
    ociVersion: '1.0.2',
    process: {
      args: ['/berth-canary'], cwd: '/', env: ['PATH=/'], user: { uid: 0, gid: 0 }, noNewPrivileges: true,
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 64, soft: 64 }],
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'berth-canary',
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type })) },
  };
}

/** Runs the canary; never throws: a failure is a result that says why. */
export async function runCanary(o: CanaryOptions): Promise<CanaryResult> {
  const id = `berth-canary-${randomBytes(4).toString('hex')}`;
  const dir = path.join(o.workDir, id);
  const agentDir = o.host.inAgent(dir);
  const hostDir = o.host.onHost(dir);
  const started = Date.now();
  const result = (passed: boolean, message: string): CanaryResult => ({ passed, time: o.now().toISOString().replace(/\.\d{3}Z$/, 'Z'), message });
  const global = ['--root', path.join(hostDir, 'state'), ...(o.systemdCgroup ? ['--systemd-cgroup'] : [])];
  const [cmd, ...prefix] = [...o.host.argvPrefix, o.binary];
  try {
    // Mount points the runtimes expect to find (crun insists on /dev).
    for (const d of ['proc', 'dev']) fs.mkdirSync(path.join(agentDir, 'bundle', 'rootfs', d), { recursive: true, mode: 0o755 });
    fs.copyFileSync(o.canaryProgram, path.join(agentDir, 'bundle', 'rootfs', 'berth-canary'));
    fs.chmodSync(path.join(agentDir, 'bundle', 'rootfs', 'berth-canary'), 0o755);
    fs.writeFileSync(path.join(agentDir, 'bundle', 'config.json'), JSON.stringify(spec()));
    const r = await run(cmd, [...prefix, ...global, 'run', '--bundle', path.join(hostDir, 'bundle'), id], o.timeoutSeconds * 1000);
    const ms = Date.now() - started;
    if (r.timedOut) return result(false, `the canary container did not finish within ${o.timeoutSeconds} s`);
    if (r.code !== 0) return result(false, `${path.basename(o.binary)} run exited ${r.code ?? 'abnormally'}: ${oneLine(r.stderr) || oneLine(r.stdout) || 'no output'}`);
    if (!r.stdout.includes(EXPECTED)) return result(false, `the canary ran but printed ${JSON.stringify(oneLine(r.stdout))} instead of ${JSON.stringify(EXPECTED)}`);
    return result(true, `canary container ran through ${o.binary} in ${ms} ms`);
  } catch (err) {
    return result(false, `cannot set up the canary: ${(err as Error).message}`);
  } finally {
    // Whatever happened: the container, the runtime's state, the bundle.
    await run(cmd, [...prefix, ...global, 'delete', '--force', id], 10_000);
    fs.rmSync(agentDir, { recursive: true, force: true });
  }
}

const oneLine = (s: string): string => s.trim().split('\n').slice(-3).join(' | ').slice(0, 300);
