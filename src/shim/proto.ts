/** Loading task.proto (kept as a file in the repo, found from the source tree or beside the bundle). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { BerthError } from '../common/errors';

function protoFile(): string {
  const candidates = [process.env.BERTH_SHIM_PROTO, path.join(__dirname, 'task.proto')];
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) {
      candidates.push(path.join(dir, 'src', 'shim', 'proto', 'task.proto'));
      break;
    }
  }
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  throw new BerthError('FailedPrecondition', 'task.proto not found (src/shim/proto/task.proto)');
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The Task service constructor: `.service` for servers, `new` for clients. */
export function taskService(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(protoFile(), { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { berth: { shim: { v1: { Task: grpc.ServiceClientConstructor } } } };
  return (cached = pkg.berth.shim.v1.Task);
}
