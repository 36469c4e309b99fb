/**
 * What the agent writes, in the wire shape of crds/ and node.k8s.io/v1: the inverse of validate.ts's parsers
 * (the mapping table is there). Status bodies are the value of `status` (the caller wraps them in its patch);
 * absent optional fields are left out rather than written as null.
 */
import { conditionsJson } from './conditions';
import { dropUndefined } from './read';
import { tolerationsJson } from './toleration';
import { API_VERSION, type BerthNodeStatus, type ObjectMeta, type RuntimeClass, type RuntimeHandler, type RuntimeHandlerStatus } from './types';

type Json = Record<string, unknown>;

export function runtimeHandlerStatusJson(s: RuntimeHandlerStatus): Json {
  return dropUndefined({
    observedGeneration: s.observedGeneration,
    conditions: conditionsJson(s.conditions),
    desiredNodes: s.desiredNodes,
    readyNodes: s.readyNodes,
    failedNodes: s.failedNodes,
    failingNodes: s.failingNodes.map((n) => ({ node: n.node, reason: n.reason, message: n.message })),
    rollout: s.rollout ? { generation: s.rollout.generation, nodes: [...s.rollout.nodes] } : undefined,
  });
}

export function berthNodeStatusJson(s: BerthNodeStatus): Json {
  return {
    stackVersion: s.stackVersion,
    berthd: { healthy: s.berthd.healthy, version: s.berthd.version, message: s.berthd.message },
    kubelet: { runtimeEndpoint: s.kubeletRuntimeEndpoint, cgroupDriver: s.cgroupDriver },
    runtime: s.runtime,
    handlers: s.handlers.map((h) => dropUndefined({
      handler: h.handler,
      generation: h.generation,
      phase: h.phase,
      message: h.message,
      lastCanary: h.lastCanary ? { passed: h.lastCanary.passed, time: h.lastCanary.time, message: h.lastCanary.message } : undefined,
    })),
    conditions: conditionsJson(s.conditions),
  };
}

/**
 * The node.k8s.io/v1 RuntimeClass body, for a create or an apply. Of the metadata only what the agent owns
 * goes out (name, labels, annotations): uid, resourceVersion and generation are the server's.
 */
export function runtimeClassJson(rc: RuntimeClass): Json {
  return dropUndefined({
    apiVersion: 'node.k8s.io/v1',
    kind: 'RuntimeClass',
    metadata: writableMeta(rc.metadata),
    handler: rc.handler,
    overhead: rc.overhead ? { podFixed: { ...rc.overhead.podFixed } } : undefined,
    scheduling: rc.scheduling
      ? dropUndefined({
        nodeSelector: rc.scheduling.nodeSelector ? { ...rc.scheduling.nodeSelector } : undefined,
        tolerations: rc.scheduling.tolerations ? tolerationsJson(rc.scheduling.tolerations) : undefined,
      })
      : undefined,
  });
}

/**
 * A whole RuntimeHandler in wire form (spec and, when present, status), for tests, benchmarks and tools that
 * create one; every default is written out, so parseRuntimeHandler gives back what went in.
 */
export function runtimeHandlerJson(rh: RuntimeHandler): Json {
  const { spec } = rh;
  const rc = spec.runtimeClass;
  return dropUndefined({
    apiVersion: API_VERSION,
    kind: 'RuntimeHandler',
    metadata: writableMeta(rh.metadata),
    spec: {
      handler: spec.handler,
      runtime: dropUndefined({ ...spec.runtime }),
      nodeSelector: { ...spec.nodeSelector },
      runtimeClass: dropUndefined({
        create: rc.create,
        name: rc.name,
        overhead: rc.overheadPodFixed ? { podFixed: { ...rc.overheadPodFixed } } : undefined,
        scheduling: rc.tolerations ? { tolerations: tolerationsJson(rc.tolerations) } : undefined,
      }),
      canary: { enabled: spec.canary.enabled, timeoutSeconds: spec.canary.timeoutSeconds },
      rollout: { maxUnavailable: spec.maxUnavailable },
    },
    status: rh.status ? runtimeHandlerStatusJson(rh.status) : undefined,
  });
}

/** The metadata the agent owns on what it creates (name, labels, annotations): uid, resourceVersion and generation are the server's. */
export function writableMeta(m: ObjectMeta): Json {
  return dropUndefined({
    name: m.name,
    labels: m.labels ? { ...m.labels } : undefined,
    annotations: m.annotations ? { ...m.annotations } : undefined,
  });
}
