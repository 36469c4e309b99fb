/**
 * Loading task.proto (kept as a file in the repo): in a built stack it is build/lib/task.proto, beside the
 * bundle (the launcher in bin/ hands the bundle its own directory as __dirname); else the source tree's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { BerthError } from '../common/errors';
import { loadPackage } from '../common/grpc';

function protoFile(): string {
  const candidates = [process.env.BERTH_SHIM_PROTO, path.join(__dirname, 'task.proto'), path.join(__dirname, '..', 'lib', 'task.proto')];
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) {
      candidates.push(path.join(dir, 'src', 'shim', 'proto', 'task.proto'));
      break;
    }
  }
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  throw new BerthError('FailedPrecondition', `task.proto not found (looked for ${candidates.filter(Boolean).join(', ')})`);
}

let cached: { service: grpc.ServiceClientConstructor; int64: ReadonlySet<string> } | undefined;

function load(): NonNullable<typeof cached> {
  if (cached) return cached;
  const def = loadPackage([protoFile()]);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { berth: { shim: { v1: { Task: grpc.ServiceClientConstructor } } } };
  const int64 = new Set<string>();
  for (const entry of Object.values(def)) {
    const message = (entry as protoLoader.MessageTypeDefinition<object, object>).type as { field?: Array<{ name: string; type: string }> } | undefined;
    for (const f of message?.field ?? []) if (f.type === 'TYPE_INT64' || f.type === 'TYPE_UINT64') int64.add(f.name);
  }
  return (cached = { service: pkg.berth.shim.v1.Task, int64 });
}

/** The Task service constructor: `.service` for servers, `new` for clients. */
export function taskService(): grpc.ServiceClientConstructor {
  return load().service;
}

/**
 * A received message with its 64-bit integer fields as numbers. The loader gives them as strings (they may
 * exceed a double elsewhere); the task API's are all counts, bytes and unix milliseconds, which fit one.
 */
export function withNumbers<T>(message: T): T {
  const int64 = load().int64;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
    const o = v as Record<string, unknown>;
    for (const [k, x] of Object.entries(o)) o[k] = int64.has(k) && typeof x === 'string' ? Number(x) : walk(x);
    return o;
  };
  return walk(message) as T;
}
