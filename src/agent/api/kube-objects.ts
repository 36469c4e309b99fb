/**
 * The Kubernetes objects the agent reads, as far as it uses them (see types.ts). The API server has validated
 * them already; these parsers check the shape, so that a field the agent relies on is never silently missing.
 */
import { invalid } from '../../common/errors';
import { expectKind, parseObjectMeta } from './meta';
import { isQuantity } from './quantity';
import { dropUndefined, integer, object, oneOf, optional, string, stringMap } from './read';
import { parseTolerations } from './toleration';
import type { Node, ObjectMeta, PodUse, RuntimeClass } from './types';

export function parseNode(v: unknown): Node {
  const o = object(v, '');
  expectKind(o, 'v1', 'Node');
  return { metadata: parseObjectMeta(o.metadata) };
}

/** node.k8s.io/v1 RuntimeClass. */
export function parseRuntimeClass(v: unknown): RuntimeClass {
  const o = object(v, '');
  expectKind(o, 'node.k8s.io/v1', 'RuntimeClass');
  const overhead = optional(o.overhead, (x) => object(x, 'overhead'));
  const podFixed = optional(overhead?.podFixed, (x) => quantities(x, 'overhead.podFixed'));
  const scheduling = optional(o.scheduling, (x) => object(x, 'scheduling'));
  return dropUndefined({
    metadata: parseObjectMeta(o.metadata),
    handler: string(o.handler, 'handler', { nonEmpty: true }),
    overhead: podFixed ? { podFixed } : undefined,
    scheduling: scheduling
      ? dropUndefined({
        nodeSelector: optional(scheduling.nodeSelector, (x) => stringMap(x, 'scheduling.nodeSelector')),
        tolerations: optional(scheduling.tolerations, (x) => parseTolerations(x, 'scheduling.tolerations')),
      })
      : undefined,
  });
}

/** A pod is in use until it is finished; one without a status yet is Pending (it may still start). */
export function parsePod(v: unknown): PodUse {
  const o = object(v, '');
  expectKind(o, 'v1', 'Pod');
  const meta = object(o.metadata, 'metadata');
  const spec = optional(o.spec, (x) => object(x, 'spec'));
  const status = optional(o.status, (x) => object(x, 'status'));
  return dropUndefined({
    namespace: string(meta.namespace, 'metadata.namespace', { nonEmpty: true }),
    name: string(meta.name, 'metadata.name', { nonEmpty: true }),
    runtimeClassName: optional(spec?.runtimeClassName, (x) => string(x, 'spec.runtimeClassName')),
    phase: optional(status?.phase, (x) => oneOf(x, 'status.phase', ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const)) ?? 'Pending',
  });
}

/** Quantities as the API server writes them (strings); an integer is taken as its decimal string. */
function quantities(v: unknown, field: string): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, q] of Object.entries(object(v, field))) {
    const f = `${field}[${name}]`;
    const s = typeof q === 'number' ? String(integer(q, f)) : string(q, f);
    if (!isQuantity(s)) throw invalid(f, `${JSON.stringify(s)} is not a quantity`);
    out[name] = s;
  }
  return out;
}

/** What a migration watches of its node: schedulability, readiness, the runtime and kubelet kubelet reports. */
export interface NodeState {
  readonly metadata: ObjectMeta;
  readonly unschedulable: boolean;
  readonly ready: boolean;
  /** status.nodeInfo.containerRuntimeVersion, e.g. docker://25.0.0 ('' before kubelet reported it). */
  readonly containerRuntimeVersion: string;
  readonly kubeletVersion: string;
  /** The sum of status.images[].sizeBytes: what the node's runtime holds, which berthd pulls again. */
  readonly imageBytes: number;
}

export function parseNodeState(v: unknown): NodeState {
  const o = object(v, '');
  expectKind(o, 'v1', 'Node');
  const spec = optional(o.spec, (x) => object(x, 'spec')) ?? {};
  const status = optional(o.status, (x) => object(x, 'status')) ?? {};
  const info = optional(status.nodeInfo, (x) => object(x, 'status.nodeInfo')) ?? {};
  const conditions = Array.isArray(status.conditions) ? status.conditions : [];
  const ready = conditions.some((c) => typeof c === 'object' && c !== null && (c as Record<string, unknown>).type === 'Ready' && (c as Record<string, unknown>).status === 'True');
  const images = Array.isArray(status.images) ? status.images : [];
  const imageBytes = images.reduce<number>((sum, i) => sum + (typeof (i as Record<string, unknown>)?.sizeBytes === 'number' ? ((i as Record<string, unknown>).sizeBytes as number) : 0), 0);
  return {
    metadata: parseObjectMeta(o.metadata),
    unschedulable: spec.unschedulable === true,
    ready,
    containerRuntimeVersion: optional(info.containerRuntimeVersion, (x) => string(x, 'status.nodeInfo.containerRuntimeVersion')) ?? '',
    kubeletVersion: optional(info.kubeletVersion, (x) => string(x, 'status.nodeInfo.kubeletVersion')) ?? '',
    imageBytes,
  };
}
