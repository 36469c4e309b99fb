/** Hooks that run in the runtime's namespace (prestart, createRuntime, poststart, poststop), state on stdin. */
import { spawn } from 'node:child_process';
import { BerthError } from '../../common/errors';
import type { Hook, State } from '../spec/types';

export async function runHook(hook: Hook, state: State, label: string): Promise<void> {
  const argv = hook.args && hook.args.length > 0 ? hook.args : [hook.path];
  const child = spawn(hook.path, argv.slice(1), { argv0: argv[0], env: envObject(hook.env ?? []), stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const collect = (b: Buffer) => { if (output.length < 4096) output += b.toString(); };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.stdin.on('error', () => { /* the hook may exit without reading its stdin */ });
  child.stdin.end(JSON.stringify(state));
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    if (hook.timeout) {
      timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, hook.timeout * 1000);
    }
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  if (timer) clearTimeout(timer);
  if (result.error) throw new BerthError('FailedPrecondition', `${label}: cannot run ${hook.path}: ${result.error.message}`);
  if (timedOut) throw new BerthError('DeadlineExceeded', `${label}: ${hook.path} did not finish within its timeout of ${hook.timeout} s`);
  if (result.code !== 0) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with status ${result.code}`;
    throw new BerthError('FailedPrecondition', `${label}: ${hook.path} ${how}${output ? `: ${output.trim()}` : ''}`);
  }
}

export async function runHooks(hooks: Hook[] | undefined, state: State, phase: string): Promise<void> {
  for (const [i, hook] of (hooks ?? []).entries()) await runHook(hook, state, `hooks.${phase}[${i}]`);
}

/**
 * For phases where runtime.md makes a failing hook a warning (poststop; poststart before 1.1.0): every hook
 * runs, "the remaining hooks and lifecycle continue as if the hook had succeeded".
 */
export async function runHooksWarning(hooks: Hook[] | undefined, state: State, phase: string, warn: (err: Error) => void): Promise<void> {
  for (const [i, hook] of (hooks ?? []).entries()) {
    try {
      await runHook(hook, state, `hooks.${phase}[${i}]`);
    } catch (err) {
      warn(err as Error);
    }
  }
}

/**
 * runtime-spec 1.0.x: "If any poststart hook fails, the runtime MUST log a warning"; from 1.1.0 on it MUST
 * generate an error and stop the container. The config's ociVersion says which rule it was written for.
 */
export function poststartFailureIsError(ociVersion: string): boolean {
  const m = /^(\d+)\.(\d+)\./.exec(ociVersion);
  return !m || Number(m[1]) > 1 || (Number(m[1]) === 1 && Number(m[2]) >= 1);
}

function envObject(env: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const eq = e.indexOf('=');
    if (eq > 0) out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}
