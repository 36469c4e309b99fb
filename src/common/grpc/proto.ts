/**
 * Loading .proto files as grpc-js service definitions, with the one set of proto-loader options every
 * component's message types assume: camelCase fields, 64-bit integers as decimal strings (CRI timestamps are
 * nanoseconds, beyond a double's 53 bits), enums as their names, defaults filled in, oneofs named.
 */
import * as fs from 'node:fs';
import * as protoLoader from '@grpc/proto-loader';

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };

/**
 * The package definition of `files`, or of the JSON form at `json` when it exists (a bundle's, made at build
 * time with protobufjs' toJSON: no .proto parsing at start-up).
 */
export function loadPackage(files: string[], json?: string): protoLoader.PackageDefinition {
  if (json && fs.existsSync(json)) return protoLoader.fromJSON(JSON.parse(fs.readFileSync(json, 'utf8')), LOADER_OPTIONS);
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length) throw new Error(`proto files not found: ${missing.join(', ')}${json ? ` (nor ${json})` : ''}`);
  return protoLoader.loadSync(files, LOADER_OPTIONS);
}
