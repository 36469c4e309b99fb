/**
 * The plugin skeleton: one function, `runPlugin`, from (environment, stdin) to (exit code, stdout, stderr).
 * The executables call it through `pluginMain` with the process's own environment and stdin; berthd calls it
 * in-process with the same inputs. There is no other path, so both give identical results by construction.
 */
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { parseNetConf } from './config';
import { CniCode, CniError, toCniErrorJson } from './errors';
import { parseEnv, parseCommand, type CniEnv, type Env } from './env';
import { convertResult } from './result';
import type { NetConf, Result } from './types';
import { SUPPORTED_VERSIONS, versionAtLeast, versionInfo } from './version';

export interface CmdArgs extends CniEnv {
  /** stdin as received. */
  stdin: Buffer;
  /** stdin, validated. */
  conf: NetConf;
}

export interface PluginHandlers {
  /** For messages ("host-local"). */
  name: string;
  /** Defaults to every version this library implements. */
  supportedVersions?: readonly string[];
  add(args: CmdArgs): Promise<Result>;
  del(args: CmdArgs): Promise<void>;
  check(args: CmdArgs): Promise<void>;
  /** Absent: the plugin is always available. */
  status?(args: CmdArgs): Promise<void>;
  /** Absent: nothing to collect. */
  gc?(args: CmdArgs): Promise<void>;
}

export interface PluginIO {
  env: Env;
  stdin: string | Buffer;
}

export interface PluginOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function print(v: unknown): string {
  return `${JSON.stringify(v, null, 4)}\n`;
}

/** Runs one CNI command; never throws (errors become the spec's error JSON and exit code 1). */
export async function runPlugin(plugin: PluginHandlers, io: PluginIO): Promise<PluginOutcome> {
  const supported = plugin.supportedVersions ?? SUPPORTED_VERSIONS;
  let cniVersion: string | undefined;
  try {
    const command = parseCommand(io.env);
    if (command === 'VERSION') return { exitCode: 0, stdout: print(versionInfo(supported)), stderr: '' };
    const env = parseEnv(io.env);
    const stdin = typeof io.stdin === 'string' ? Buffer.from(io.stdin) : io.stdin;
    const conf = parseNetConf(stdin, supported);
    cniVersion = conf.cniVersion;
    const args: CmdArgs = { ...env, stdin, conf };
    switch (command) {
      case 'ADD': {
        const result = await plugin.add(args);
        return { exitCode: 0, stdout: print(convertResult(result, conf.cniVersion)), stderr: '' };
      }
      case 'DEL':
        await plugin.del(args);
        break;
      case 'CHECK':
        if (!versionAtLeast(conf.cniVersion, '0.4.0')) throw new CniError(CniCode.IncompatibleVersion, 'FailedPrecondition', `config version ${conf.cniVersion} does not allow CHECK`);
        await plugin.check(args);
        break;
      case 'STATUS':
      case 'GC':
        if (!versionAtLeast(conf.cniVersion, '1.1.0')) throw new CniError(CniCode.IncompatibleVersion, 'FailedPrecondition', `config version ${conf.cniVersion} does not allow ${command}`);
        if (command === 'STATUS') await plugin.status?.(args);
        else await plugin.gc?.(args);
        break;
    }
    return { exitCode: 0, stdout: '', stderr: '' };
  } catch (err) {
    return { exitCode: 1, stdout: print(toCniErrorJson(err, cniVersion)), stderr: '' };
  }
}

/** All of fd 0, read synchronously (process.stdin is never touched: creating it makes fd 0 non-blocking). */
function readStdin(): Buffer {
  if (isatty(0)) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        // A non-blocking stdin with nothing yet: wait a little without spinning.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
        continue;
      }
      if (code === 'EOF' || code === 'EBADF') break;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

/** The executable's main: the process's environment and stdin in, stdout and exit code out. */
export async function pluginMain(plugin: PluginHandlers): Promise<void> {
  let stdin: Buffer;
  try {
    stdin = readStdin();
  } catch (err) {
    process.stdout.write(print({ code: CniCode.IOFailure, msg: `reading stdin: ${(err as Error).message}` }));
    process.exitCode = 1;
    return;
  }
  const out = await runPlugin(plugin, { env: process.env, stdin });
  if (out.stderr) process.stderr.write(out.stderr);
  process.stdout.write(out.stdout);
  process.exitCode = out.exitCode;
}
