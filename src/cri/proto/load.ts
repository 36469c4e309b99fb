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
/** The RuntimeService with only Version and Status (hack/build.js), for clients that only check health. */
export const HEALTH_PROTO_JSON = 'cri-health.json';

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

let health: grpc.ServiceDefinition | undefined;

/**
 * runtime.v1.RuntimeService with Version and Status only, for health checks (berth-agent): the bundled binaries
 * load the small definition hack/build.js made; from source it is the whole service.
 */
export function criHealthService(): grpc.ServiceDefinition {
  if (health) return health;
  const json = path.join(__dirname, '..', 'lib', HEALTH_PROTO_JSON);
  const def = loadPackage(PROTO_FILES.map((f) => path.join(__dirname, f)), json);
  const s = def['runtime.v1.RuntimeService'];
  if (!s || 'format' in s) throw new Error('runtime.v1.RuntimeService missing from the CRI proto definition');
  health = s as grpc.ServiceDefinition;
  return health;
}
