/**
 * The pod and container config files of `runp` and `create`, JSON or YAML as crictl reads them, into the
 * request objects proto-loader serializes. crictl's examples use the proto's own (snake_case) field names;
 * camelCase is accepted too. Enums may be numbers or names and 64-bit integers numbers or strings: protobufjs
 * takes both when it encodes.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as YAML from 'yaml';
import { BerthError, invalid } from '../../common/errors';

/** crictl's wording, without a field prefix: the command puts its own step before it. */
const bad = (message: string) => new BerthError('InvalidArgument', message);

/** Fields that are map<string, string> in the CRI: their keys are data (label names, sysctls), not field names. */
const MAP_FIELDS = new Set(['labels', 'annotations', 'sysctls', 'unified', 'info', 'labelSelector']);

/** protobufjs' own camelCase (what proto-loader's keepCase: false names fields): `_x` → `X`. */
export function camelCase(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Every field name below `v` in camelCase, map fields' keys left as they are. */
export function camelKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(camelKeys);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const name = camelCase(k);
    out[name] = MAP_FIELDS.has(name) ? x : camelKeys(x);
  }
  return out;
}

type Doc = Record<string, unknown>;

const isDoc = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A config file's text as a request object. JSON is YAML, so one parser reads both. */
export function parseConfigDoc(text: string, file: string): Doc {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw invalid(file, (err as Error).message.split('\n')[0]);
  }
  if (!isDoc(doc)) throw invalid(file, 'expected a JSON or YAML object');
  return camelKeys(doc) as Doc;
}

function readConfig(file: string): Doc {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BerthError('NotFound', `config at ${file} not found`);
    throw err;
  }
  return parseConfigDoc(text, file);
}

/** Go's %q of a metadata message as crictl prints it in these errors: near enough for a human. */
const quoted = (v: unknown) => JSON.stringify(JSON.stringify(v ?? {}));

/** A PodSandboxConfig, checked as crictl checks it (metadata with name and namespace; a uid made up if none). */
export function podConfigFrom(doc: Doc, warn: (s: string) => void = () => undefined): Doc {
  const md = doc.metadata;
  if (!isDoc(md)) throw bad('metadata is not set');
  if (!md.uid) md.uid = randomUUID();
  if (!md.name || !md.namespace) throw bad(`name or namespace is not in metadata ${quoted(md)}`);
  if (isDoc(doc.linux) && !doc.linux.cgroupParent) warn('cgroup_parent is not set. Use `runtime-config` to get the runtime cgroup driver');
  return doc;
}

/** A ContainerConfig, checked as crictl checks it (metadata.name and image.image are required). */
export function containerConfigFrom(doc: Doc): Doc {
  const md = doc.metadata;
  if (!isDoc(md)) throw bad('metadata is not set');
  if (!md.name) throw bad(`name is not in metadata ${quoted(md)}`);
  const image = doc.image;
  if (!isDoc(image)) throw bad('image is not set');
  if (!image.image) throw bad(`image field is not set in image ${quoted(image)}`);
  // As crictl: the image as the user wrote it, unless the file says otherwise.
  if (!image.userSpecifiedImage) image.userSpecifiedImage = image.image;
  return doc;
}

export function loadPodConfig(file: string, warn?: (s: string) => void): Doc {
  return podConfigFrom(readConfig(file), warn);
}

export function loadContainerConfig(file: string): Doc {
  return containerConfigFrom(readConfig(file));
}
