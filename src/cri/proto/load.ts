/**
 * The CRI runtime.v1 services and berth.v1.PullProgress as grpc-js service definitions. The bundled binaries
 * load a JSON form made at build time (hack/build.js: build/lib/cri-api.json), which skips parsing the .proto
 * files at every start; from source (tests) the .proto files beside this module are parsed.
 */
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { loadPackage } from '../../common/grpc';

export const PROTO_FILES = ['api.proto', 'berth.proto'];
/** Name of the pre-built JSON next to the bundles (build/lib). */
export const PROTO_JSON = 'cri-api.json';

export interface CriServices {
  runtime: grpc.ServiceDefinition;
  image: grpc.ServiceDefinition;
  pullProgress: grpc.ServiceDefinition;
}

let cached: CriServices | undefined;

export function criServices(): CriServices {
  if (cached) return cached;
  // Bundled: __dirname is build/bin (the launcher's); from source: src/cri/proto.
  const def = loadPackage(PROTO_FILES.map((f) => path.join(__dirname, f)), path.join(__dirname, '..', 'lib', PROTO_JSON));
  const service = (name: string): grpc.ServiceDefinition => {
    const s = def[name];
    // Messages and enums carry a `format` key; a service is a map of method definitions.
    if (!s || 'format' in s) throw new Error(`${name} missing from the CRI proto definition`);
    return s as grpc.ServiceDefinition;
  };
  cached = { runtime: service('runtime.v1.RuntimeService'), image: service('runtime.v1.ImageService'), pullProgress: service('berth.v1.PullProgress') };
  return cached;
}
