/**
 * Calling another plugin (the runtime side of the protocol, and delegation such as bridge → IPAM): find the
 * executable in CNI_PATH and exec it, or, when the type is one of ours (a `registry` entry), run it
 * in-process through the very same runPlugin the executable uses. Either way the caller gets the same
 * PluginOutcome, and `resultOf` / `expectSuccess` turn it into a Result or a CniError carrying the plugin's
 * own code.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ErrorKind } from '../../common/errors';
import { decodeJson } from './config';
import { CniCode, CniError, invalidConfig } from './errors';
import type { Env } from './env';
import { parseResult } from './result';
import { runPlugin, type PluginHandlers, type PluginIO, type PluginOutcome } from './skel';
import type { Result } from './types';
import { isObject } from './validate';

/** Our plugins that may run in-process, by CNI type. */
export type PluginRegistry = Readonly<Record<string, PluginHandlers>>;

const PLUGIN_TYPE_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The first executable `<dir>/<type>` along `dirs` (libcni's FindInPath). */
export function findPlugin(type: string, dirs: readonly string[]): string {
  if (!PLUGIN_TYPE_RE.test(type)) throw invalidConfig('type', `invalid plugin type ${JSON.stringify(type)}`);
  if (dirs.length === 0) throw invalidConfig('type', `failed to find plugin ${JSON.stringify(type)}: CNI_PATH is empty`);
  for (const dir of dirs) {
    const file = path.join(dir, type);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  throw invalidConfig('type', `failed to find plugin ${JSON.stringify(type)} in path ${JSON.stringify(dirs)}`);
}

export interface ExecOptions {
  /** Kill the plugin after this long (default 60 s); the caller gets code 11. */
  timeoutMs?: number;
}

/** Execs a plugin binary with exactly `io.env` (plus PATH if absent) and `io.stdin`. */
export function execPlugin(file: string, io: PluginIO, options: ExecOptions = {}): Promise<PluginOutcome> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(io.env)) if (v !== undefined) env[k] = v;
  env.PATH ??= process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined); // a plugin may exit without reading stdin
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CniError(CniCode.IOFailure, 'Internal', `executing ${file}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new CniError(CniCode.TryAgainLater, 'DeadlineExceeded', `${file} did not finish within ${options.timeoutMs ?? 60000} ms`));
        return;
      }
      resolve({ exitCode: code ?? 128, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') + (signal ? `killed by ${signal}\n` : '') });
    });
    child.stdin.end(io.stdin);
  });
}

/** Runs plugin `type`: in-process when it is in `registry`, otherwise exec'd from the CNI_PATH in `io.env`. */
export async function invokePlugin(type: string, io: PluginIO, registry: PluginRegistry = {}, options: ExecOptions = {}): Promise<PluginOutcome> {
  const own = Object.prototype.hasOwnProperty.call(registry, type) ? registry[type] : undefined;
  if (own) return runPlugin(own, io);
  const dirs = (io.env.CNI_PATH ?? '').split(':').filter((d) => d !== '');
  return execPlugin(findPlugin(type, dirs), io, options);
}

function kindOfCode(code: number): ErrorKind {
  switch (code) {
    case CniCode.IncompatibleVersion:
      return 'FailedPrecondition';
    case CniCode.UnsupportedField:
    case CniCode.InvalidEnvironment:
    case CniCode.DecodingFailure:
    case CniCode.InvalidNetworkConfig:
      return 'InvalidArgument';
    case CniCode.UnknownContainer:
      return 'NotFound';
    case CniCode.TryAgainLater:
    case CniCode.NotAvailable:
    case CniCode.NotAvailableLimitedConnectivity:
      return 'Unavailable';
    default:
      return 'Internal';
  }
}

/** A failed outcome as a CniError with the plugin's code, message and details. */
export function errorOf(out: PluginOutcome, who = 'plugin'): CniError {
  let body: Record<string, unknown> | undefined;
  try {
    body = decodeJson(out.stdout, `${who} error`);
  } catch {
    body = undefined;
  }
  if (body && typeof body.code === 'number' && typeof body.msg === 'string') {
    return new CniError(body.code, kindOfCode(body.code), body.msg, { details: typeof body.details === 'string' ? body.details : undefined });
  }
  const text = `${out.stdout}${out.stderr}`.trim();
  return new CniError(CniCode.Internal, 'Internal', `${who} failed with exit code ${out.exitCode}${text ? `: ${text.slice(0, 2000)}` : ''}`);
}

/** Throws the plugin's error unless it succeeded. */
export function expectSuccess(out: PluginOutcome, who?: string): void {
  if (out.exitCode !== 0) throw errorOf(out, who);
}

/** The Result of a successful ADD (read in whatever version the plugin wrote it), or the plugin's error. */
export function resultOf(out: PluginOutcome, who = 'plugin'): Result {
  expectSuccess(out, who);
  const body = decodeJson(out.stdout, `${who} result`);
  if (!isObject(body)) throw new CniError(CniCode.DecodingFailure, 'Internal', `${who} printed no result`);
  return parseResult(body, 'result');
}

/** The environment a delegating plugin passes on: its own, with CNI_COMMAND replaced. */
export function delegateEnv(env: Env, command: string): Env {
  return { ...env, CNI_COMMAND: command };
}
