/**
 * Shared material for the CNI suites: our plugins bundled to a temp dir (esbuild, as hack/build.js does),
 * a runner for any plugin executable (ours or Debian's reference plugins), the same invocation in-process,
 * and temp dirs that are always removed.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runPlugin, type PluginHandlers, type PluginOutcome } from '../../src/cni/pkg/skel';
import { removeTempDirs, trackTempDir } from '../helpers/cleanup';

export const REPO = path.resolve(__dirname, '..', '..');
export const REFERENCE_DIR = '/usr/lib/cni';

/** Fails loudly when something a suite needs is missing: tests never skip silently. */
export function requireCni(...referencePlugins: string[]): void {
  if (process.getuid?.() !== 0) throw new Error('the CNI tests need root');
  for (const p of referencePlugins) {
    if (!fs.existsSync(path.join(REFERENCE_DIR, p))) {
      throw new Error(`${REFERENCE_DIR}/${p} is missing: install Debian's containernetworking-plugins (hack/deps does)`);
    }
  }
}

const tempDirs: string[] = [];

export function tempDir(prefix = 'berth-cni-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  trackTempDir(d);
  return d;
}

/** Removes this helper's temp dirs; one with a mount still below it is kept and reported (see test/helpers/cleanup.ts). */
export function cleanupTempDirs(): void {
  removeTempDirs(tempDirs.splice(0));
}

/** berth-host-local bundled for this run, and a runner that executes it as a CNI plugin would be. */
export async function bundledHostLocal(): Promise<{ bundle: string; exec: Runner }> {
  const bundle = await bundlePlugin('berth-host-local', tempDir('berth-cni-bin-'));
  return { bundle, exec: execRunner(process.execPath, bundle) };
}

/** Bundles src/bin/<name>.ts into `dir` with esbuild; returns the bundle's path (run it with node). */
export async function bundlePlugin(name: string, dir: string): Promise<string> {
  const esbuild = require('esbuild') as typeof import('esbuild');
  const outfile = path.join(dir, `${name}.js`);
  await esbuild.build({
    entryPoints: [path.join(REPO, 'src', 'bin', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
  });
  return outfile;
}

export interface Invocation {
  command: string;
  containerId?: string;
  ifname?: string;
  netns?: string;
  args?: string;
  path?: string;
  /** Extra or overriding environment (undefined removes a variable). */
  env?: Record<string, string | undefined>;
}

export function cniEnv(inv: Invocation): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns ?? (inv.command === 'ADD' || inv.command === 'CHECK' ? '/var/run/netns/berth-test-none' : undefined),
    CNI_IFNAME: inv.ifname ?? (inv.containerId ? 'eth0' : undefined),
    CNI_ARGS: inv.args,
    CNI_PATH: inv.path ?? REFERENCE_DIR,
    ...inv.env,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env;
}

/** How a plugin is run: a command line (executable) or handlers (in-process). */
export type Runner = { kind: 'exec'; argv: string[] } | { kind: 'inproc'; plugin: PluginHandlers };

export function execRunner(...argv: string[]): Runner {
  return { kind: 'exec', argv };
}

export function inprocRunner(plugin: PluginHandlers): Runner {
  return { kind: 'inproc', plugin };
}

/** Runs one CNI command; the outcome has the same shape for both kinds of runner. */
export function invoke(runner: Runner, inv: Invocation, stdin: unknown): Promise<PluginOutcome> {
  const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
  const env = cniEnv(inv);
  if (runner.kind === 'inproc') return runPlugin(runner.plugin, { env, stdin: input });
  return new Promise((resolve, reject) => {
    // A minimal environment: only what the CNI protocol passes (plus PATH), as runtimes do.
    const child = spawn(runner.argv[0], runner.argv.slice(1), { env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ exitCode: code ?? 128 + (signal ? os.constants.signals[signal] : 0), stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** The parsed stdout of an outcome (undefined when empty). */
export function json(out: PluginOutcome): any {
  return out.stdout.trim() === '' ? undefined : JSON.parse(out.stdout);
}

/** Runs and expects exit 0; the error shows what the plugin said. */
export async function ok(runner: Runner, inv: Invocation, stdin: unknown): Promise<any> {
  const out = await invoke(runner, inv, stdin);
  if (out.exitCode !== 0) throw new Error(`${inv.command} ${inv.containerId ?? ''} → ${out.exitCode}\n${out.stdout}${out.stderr}`);
  return json(out);
}

/** Every file of a directory tree with its content, for comparing data directories. */
export function snapshotDir(dir: string, ignore: (name: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (ignore(e.name)) continue;
      const p = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p, r);
      else out[r] = fs.readFileSync(p, 'utf8');
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return out;
}

/** A host-local network config. */
export function hostLocalConf(dataDir: string, ipam: Record<string, unknown>, top: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'berthnet', type: 'bridge', ...top, ipam: { type: 'host-local', dataDir, ...ipam } };
}
