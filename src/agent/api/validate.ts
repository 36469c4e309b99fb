/**
 * The boundary between the API server's JSON and the agent's types (types.ts): every object the agent reads
 * goes through one of these parsers once, which applies the defaults and throws `invalid(field, ...)` for
 * anything the CRD schema in crds/ would not have let through. The agent cannot trust that the CRD installed
 * in the cluster is the one it was built with (an older chart, a hand-edited CRD), so the rules are checked
 * again here. Unknown fields are ignored: the API server prunes them, and a newer schema may add some.
 *
 * Where the wire shape and the types differ (types.ts is flat where the wire nests):
 *
 *   RuntimeHandler (wire)                          RuntimeHandler (types.ts)
 *   spec.handler                                   spec.handler
 *   spec.runtime.{type,path,root,systemdCgroup}    spec.runtime.{type,path,root,systemdCgroup}
 *   spec.nodeSelector (optional)                   spec.nodeSelector (default {})
 *   spec.runtimeClass.create (default true)        spec.runtimeClass.create
 *   spec.runtimeClass.name (optional)              spec.runtimeClass.name (default spec.handler; CRD defaults
 *                                                  cannot copy a field, so the default is applied here)
 *   spec.runtimeClass.overhead.podFixed            spec.runtimeClass.overheadPodFixed (int-or-string values;
 *                                                  integers become their decimal strings)
 *   spec.runtimeClass.scheduling.tolerations       spec.runtimeClass.tolerations
 *   spec.canary.{enabled,timeoutSeconds}           spec.canary.{enabled,timeoutSeconds} (defaults true, 30)
 *   spec.rollout.maxUnavailable (default 1)        spec.maxUnavailable
 *   status.*                                       status.* (same names; absent counts read as 0, absent lists as [])
 *
 *   BerthNode (wire)                               BerthNode (types.ts)
 *   status.stackVersion, status.runtime            status.stackVersion, status.runtime
 *   status.berthd.{healthy,version,message}        status.berthd.{healthy,version,message}
 *   status.kubelet.runtimeEndpoint                 status.kubeletRuntimeEndpoint
 *   status.kubelet.cgroupDriver                    status.cgroupDriver
 *   status.handlers[], status.conditions[]         status.handlers (absent: []), status.conditions (absent: [])
 *
 * The reverse, for what the agent writes, is in to-json.ts (re-exported here).
 */
import { invalid } from '../../common/errors';
import { parseConditions } from './conditions';
import { HANDLER_NAME, isRfc3339, MESSAGE, OBJECT_NAME, pathProblem } from './formats';
import { expectKind, parseObjectMeta } from './meta';
import { isNonNegativeQuantity } from './quantity';
import { array, at, boolean, dropUndefined, integer, item, type JsonObject, object, oneOf, optional, string, stringList, stringMap, uniqueBy } from './read';
import { parseTolerations } from './toleration';
import {
  API_VERSION,
  type BerthNode,
  type BerthNodeStatus,
  type CanaryResult,
  type FailingNode,
  type NodeHandlerState,
  type RuntimeClassTemplate,
  type RuntimeHandler,
  type RuntimeHandlerRuntime,
  type RuntimeHandlerSpec,
  type RuntimeHandlerStatus,
} from './types';

export { parseNode, parsePod, parseRuntimeClass } from './kube-objects';
export { berthNodeStatusJson, runtimeClassJson, runtimeHandlerJson, runtimeHandlerStatusJson } from './to-json';

// --- RuntimeHandler ---

export function parseRuntimeHandler(v: unknown): RuntimeHandler {
  const o = object(v, '');
  expectKind(o, API_VERSION, 'RuntimeHandler');
  return dropUndefined({
    metadata: parseObjectMeta(o.metadata),
    spec: parseRuntimeHandlerSpec(o.spec, 'spec'),
    status: optional(o.status, (x) => parseRuntimeHandlerStatus(x, 'status')),
  });
}

function parseRuntimeHandlerSpec(v: unknown, field: string): RuntimeHandlerSpec {
  const s = object(v, field);
  const handler = string(s.handler, at(field, 'handler'), HANDLER_NAME);
  const canary = optional(s.canary, (x) => object(x, at(field, 'canary'))) ?? {};
  const rollout = optional(s.rollout, (x) => object(x, at(field, 'rollout'))) ?? {};
  return {
    handler,
    runtime: parseRuntime(s.runtime, at(field, 'runtime')),
    nodeSelector: optional(s.nodeSelector, (x) => stringMap(x, at(field, 'nodeSelector'), { maxLength: 63 })) ?? {},
    runtimeClass: parseRuntimeClassTemplate(s.runtimeClass, at(field, 'runtimeClass'), handler),
    canary: {
      enabled: optional(canary.enabled, (x) => boolean(x, at(field, 'canary.enabled'))) ?? true,
      timeoutSeconds: optional(canary.timeoutSeconds, (x) => integer(x, at(field, 'canary.timeoutSeconds'), { min: 1, max: 600 })) ?? 30,
    },
    maxUnavailable: optional(rollout.maxUnavailable, (x) => parseMaxUnavailable(x, at(field, 'rollout.maxUnavailable'))) ?? 1,
  };
}

function parseRuntime(v: unknown, field: string): RuntimeHandlerRuntime {
  const r = object(v, field);
  const runtime: RuntimeHandlerRuntime = dropUndefined({
    type: oneOf(r.type, at(field, 'type'), ['berth', 'runc', 'crun', 'binary'] as const),
    path: optional(r.path, (x) => nodePath(x, at(field, 'path'))),
    root: optional(r.root, (x) => nodePath(x, at(field, 'root'))),
    systemdCgroup: optional(r.systemdCgroup, (x) => boolean(x, at(field, 'systemdCgroup'))),
  });
  if (runtime.type === 'binary' && runtime.path === undefined) throw invalid(at(field, 'path'), 'is required when the type is binary');
  return runtime;
}

function nodePath(v: unknown, field: string): string {
  const p = string(v, field, { nonEmpty: true, maxLength: 4096 });
  const problem = pathProblem(p);
  if (problem) throw invalid(field, `${JSON.stringify(p)} ${problem}`);
  return p;
}

function parseRuntimeClassTemplate(v: unknown, field: string, handler: string): RuntimeClassTemplate {
  const rc: JsonObject = optional(v, (x) => object(x, field)) ?? {};
  const overhead = optional(rc.overhead, (x) => object(x, at(field, 'overhead')));
  const scheduling = optional(rc.scheduling, (x) => object(x, at(field, 'scheduling')));
  return dropUndefined({
    create: optional(rc.create, (x) => boolean(x, at(field, 'create'))) ?? true,
    name: optional(rc.name, (x) => string(x, at(field, 'name'), OBJECT_NAME)) ?? handler,
    overheadPodFixed: optional(overhead?.podFixed, (x) => parsePodFixed(x, at(field, 'overhead.podFixed'))),
    tolerations: optional(scheduling?.tolerations, (x) => parseTolerations(x, at(field, 'scheduling.tolerations'))),
  });
}

/** Resource name → quantity; the wire allows integers (int-or-string), the types hold strings. */
export function parsePodFixed(v: unknown, field: string): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, q] of Object.entries(object(v, field))) {
    const f = `${field}[${name}]`;
    const s = typeof q === 'number' ? String(integer(q, f)) : string(q, f, { maxLength: 64 });
    if (!isNonNegativeQuantity(s)) throw invalid(f, `${JSON.stringify(s)} is not a non-negative quantity such as 250m or 64Mi`);
    out[name] = s;
  }
  return out;
}

const PERCENT = /^([1-9][0-9]?|100)%$/;

function parseMaxUnavailable(v: unknown, field: string): number | `${number}%` {
  if (typeof v === 'number') return integer(v, field, { min: 1 });
  const s = string(v, field);
  if (!PERCENT.test(s)) throw invalid(field, `${JSON.stringify(s)} is neither an integer of at least 1 nor a percentage from 1% to 100%`);
  return s as `${number}%`;
}

function parseRuntimeHandlerStatus(v: unknown, field: string): RuntimeHandlerStatus {
  const s = object(v, field);
  const count = (key: string) => optional(s[key], (x) => integer(x, at(field, key), { min: 0 })) ?? 0;
  return dropUndefined({
    observedGeneration: optional(s.observedGeneration, (x) => integer(x, at(field, 'observedGeneration'), { min: 0 })),
    conditions: optional(s.conditions, (x) => parseConditions(x, at(field, 'conditions'))) ?? [],
    desiredNodes: count('desiredNodes'),
    readyNodes: count('readyNodes'),
    failedNodes: count('failedNodes'),
    failingNodes: optional(s.failingNodes, (x) => parseFailingNodes(x, at(field, 'failingNodes'))) ?? [],
    rollout: optional(s.rollout, (x) => parseRollout(x, at(field, 'rollout'))),
  });
}

function parseFailingNodes(v: unknown, field: string): readonly FailingNode[] {
  const list = array(v, field).map((x, i): FailingNode => {
    const f = item(field, i);
    const n = object(x, f);
    return { node: string(n.node, at(f, 'node')), reason: string(n.reason, at(f, 'reason')), message: string(n.message, at(f, 'message')) };
  });
  return uniqueBy(list, (n) => n.node, field, 'node');
}

function parseRollout(v: unknown, field: string): RuntimeHandlerStatus['rollout'] {
  const r = object(v, field);
  const nodes = stringList(r.nodes, at(field, 'nodes'));
  const dup = nodes.findIndex((n, i) => nodes.indexOf(n) !== i);
  if (dup >= 0) throw invalid(item(at(field, 'nodes'), dup), `${JSON.stringify(nodes[dup])} appears twice`);
  return { generation: integer(r.generation, at(field, 'generation'), { min: 0 }), nodes };
}

// --- BerthNode ---

export function parseBerthNode(v: unknown): BerthNode {
  const o = object(v, '');
  expectKind(o, API_VERSION, 'BerthNode');
  return dropUndefined({
    metadata: parseObjectMeta(o.metadata),
    status: optional(o.status, (x) => parseBerthNodeStatus(x, 'status')),
  });
}

function parseBerthNodeStatus(v: unknown, field: string): BerthNodeStatus {
  const s = object(v, field);
  const berthd = object(s.berthd, at(field, 'berthd'));
  const kubelet = object(s.kubelet, at(field, 'kubelet'));
  return {
    stackVersion: string(s.stackVersion, at(field, 'stackVersion'), { maxLength: 128 }),
    berthd: {
      healthy: boolean(berthd.healthy, at(field, 'berthd.healthy')),
      version: string(berthd.version, at(field, 'berthd.version'), { maxLength: 128 }),
      message: string(berthd.message, at(field, 'berthd.message'), MESSAGE),
    },
    kubeletRuntimeEndpoint: string(kubelet.runtimeEndpoint, at(field, 'kubelet.runtimeEndpoint'), { maxLength: 4096 }),
    cgroupDriver: oneOf(kubelet.cgroupDriver, at(field, 'kubelet.cgroupDriver'), ['cgroupfs', 'systemd'] as const),
    runtime: oneOf(s.runtime, at(field, 'runtime'), ['berthd', 'containerd', 'cri-dockerd', 'cri-o', 'unknown'] as const),
    handlers: optional(s.handlers, (x) => parseHandlerStates(x, at(field, 'handlers'))) ?? [],
    conditions: optional(s.conditions, (x) => parseConditions(x, at(field, 'conditions'))) ?? [],
  };
}

function parseHandlerStates(v: unknown, field: string): readonly NodeHandlerState[] {
  const list = array(v, field).map((x, i): NodeHandlerState => {
    const f = item(field, i);
    const h = object(x, f);
    return dropUndefined({
      handler: string(h.handler, at(f, 'handler'), HANDLER_NAME),
      generation: integer(h.generation, at(f, 'generation'), { min: 0 }),
      phase: oneOf(h.phase, at(f, 'phase'), ['Pending', 'Configured', 'Ready', 'Failed', 'Removing'] as const),
      message: string(h.message, at(f, 'message'), MESSAGE),
      lastCanary: optional(h.lastCanary, (c) => parseCanaryResult(c, at(f, 'lastCanary'))),
    });
  });
  return uniqueBy(list, (h) => h.handler, field, 'handler');
}

function parseCanaryResult(v: unknown, field: string): CanaryResult {
  const c = object(v, field);
  const time = string(c.time, at(field, 'time'));
  if (!isRfc3339(time)) throw invalid(at(field, 'time'), `${JSON.stringify(time)} is not an RFC 3339 time`);
  return { passed: boolean(c.passed, at(field, 'passed')), time, message: string(c.message, at(field, 'message'), MESSAGE) };
}
