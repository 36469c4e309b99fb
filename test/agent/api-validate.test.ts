/**
 * The agent's API boundary (src/agent/api/validate.ts and its helpers): every default the parsers apply, every
 * bad field named in the error, the written status JSON read back unchanged, quantities compared by value and
 * conditions keeping their transition time.
 */
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BerthError } from '../../src/common/errors';
import { findCondition, removeCondition, rfc3339, setCondition } from '../../src/agent/api/conditions';
import { isNonNegativeQuantity, isQuantity, quantityEquals } from '../../src/agent/api/quantity';
import type { BerthNodeStatus, Condition, RuntimeClass, RuntimeHandler, RuntimeHandlerStatus } from '../../src/agent/api/types';
import {
  berthNodeStatusJson,
  parseBerthNode,
  parseNode,
  parsePod,
  parseRuntimeClass,
  parseRuntimeHandler,
  runtimeClassJson,
  runtimeHandlerJson,
  runtimeHandlerStatusJson,
} from '../../src/agent/api/validate';

type Obj = Record<string, unknown>;
const EXAMPLES = path.resolve(__dirname, '..', '..', 'crds', 'examples');

/** The error a parse throws: its field and message; fails the test when nothing or something else is thrown. */
function rejection(f: () => unknown): { field: string | undefined; message: string } {
  try {
    f();
  } catch (err) {
    if (err instanceof BerthError && err.kind === 'InvalidArgument') return { field: err.field, message: err.message };
    throw err;
  }
  throw new Error('no error was thrown');
}

const rh = (spec: Obj, extra: Obj = {}): Obj => ({ apiVersion: 'berth.dev/v1alpha1', kind: 'RuntimeHandler', metadata: { name: 'x' }, spec, ...extra });
const minimal = (extra: Obj = {}): Obj => ({ handler: 'runc', runtime: { type: 'runc' }, ...extra });

describe('parseRuntimeHandler: defaults', () => {
  test('a minimal spec gets every default: empty nodeSelector, RuntimeClass created and named after the handler, canary on for 30 s, maxUnavailable 1', () => {
    const h = parseRuntimeHandler(rh(minimal()));
    expect(h.spec).toEqual({
      handler: 'runc',
      runtime: { type: 'runc' },
      nodeSelector: {},
      runtimeClass: { create: true, name: 'runc' },
      canary: { enabled: true, timeoutSeconds: 30 },
      maxUnavailable: 1,
    });
    expect(h.status).toBeUndefined();
  });

  test('what the API server fills in (empty runtimeClass/canary/rollout objects with their own defaults) reads the same', () => {
    const served = parseRuntimeHandler(rh(minimal({ runtimeClass: { create: true }, canary: { enabled: true, timeoutSeconds: 30 }, rollout: { maxUnavailable: 1 } })));
    expect(served.spec).toEqual(parseRuntimeHandler(rh(minimal())).spec);
  });

  test('set values win over defaults; percentages and integer quantities are kept (integers as strings)', () => {
    const h = parseRuntimeHandler(rh(minimal({
      runtimeClass: { create: false, name: 'other.class', overhead: { podFixed: { cpu: 1, memory: '64Mi' } } },
      canary: { enabled: false, timeoutSeconds: 600 },
      rollout: { maxUnavailable: '25%' },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
    })));
    expect(h.spec.runtimeClass).toEqual({ create: false, name: 'other.class', overheadPodFixed: { cpu: '1', memory: '64Mi' } });
    expect(h.spec.canary).toEqual({ enabled: false, timeoutSeconds: 600 });
    expect(h.spec.maxUnavailable).toBe('25%');
    expect(h.spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
  });

  test('an empty status reads as zero counts and empty lists', () => {
    expect(parseRuntimeHandler(rh(minimal(), { status: {} })).status).toEqual({ conditions: [], desiredNodes: 0, readyNodes: 0, failedNodes: 0, failingNodes: [] });
  });

  test('metadata: the fields the agent uses are read, others ignored', () => {
    const h = parseRuntimeHandler(rh(minimal(), {
      metadata: { name: 'x', uid: 'u-1', generation: 3, resourceVersion: '42', labels: { a: 'b' }, finalizers: ['berth.dev/cleanup'], deletionTimestamp: '2025-01-01T00:00:00Z', managedFields: [{}] },
    }));
    expect(h.metadata).toEqual({ name: 'x', uid: 'u-1', generation: 3, resourceVersion: '42', labels: { a: 'b' }, finalizers: ['berth.dev/cleanup'], deletionTimestamp: '2025-01-01T00:00:00Z' });
  });

  test('every example in crds/examples/ parses, with the values it spells out', () => {
    const files = fs.readdirSync(EXAMPLES).filter((f) => f.startsWith('runtimehandler-'));
    expect(files.sort()).toEqual(['runtimehandler-berth.yaml', 'runtimehandler-binary.yaml', 'runtimehandler-runc.yaml']);
    const byName = Object.fromEntries(files.map((f) => {
      const h = parseRuntimeHandler(parseYaml(fs.readFileSync(path.join(EXAMPLES, f), 'utf8')));
      return [h.metadata.name, h];
    }));
    expect(byName.berth.spec).toMatchObject({ handler: 'berth', runtime: { type: 'berth' }, runtimeClass: { create: true, name: 'berth' }, maxUnavailable: '25%' });
    expect(byName['crun-lowmem'].spec).toMatchObject({
      runtime: { type: 'binary', path: '/usr/bin/crun', systemdCgroup: true },
      runtimeClass: { name: 'lowmem', overheadPodFixed: { cpu: '50m', memory: '32Mi' } },
      canary: { enabled: true, timeoutSeconds: 10 },
      maxUnavailable: 2,
    });
    expect(byName['crun-lowmem'].spec.runtimeClass.tolerations).toHaveLength(2);
    expect(byName.runc.spec.runtime).toEqual({ type: 'runc', path: '/usr/bin/runc', root: '/run/berth/runc' });
  });
});

describe('parseRuntimeHandler: bad input names the field', () => {
  const cases: Array<[string, Obj, string, RegExp]> = [
    ['no spec', { apiVersion: 'berth.dev/v1alpha1', kind: 'RuntimeHandler', metadata: { name: 'x' } }, 'spec', /required/],
    ['another kind', { ...rh(minimal()), kind: 'BerthNode' }, 'kind', /not RuntimeHandler/],
    ['another version', { ...rh(minimal()), apiVersion: 'berth.dev/v1' }, 'apiVersion', /not berth\.dev\/v1alpha1/],
    ['no metadata.name', { ...rh(minimal()), metadata: {} }, 'metadata.name', /required/],
    ['a bad deletionTimestamp', { ...rh(minimal()), metadata: { name: 'x', deletionTimestamp: 'yesterday' } }, 'metadata.deletionTimestamp', /RFC 3339/],
    ['no handler', rh({ runtime: { type: 'runc' } }), 'spec.handler', /required/],
    ['a handler that is no DNS label', rh(minimal({ handler: 'Bad_Name' })), 'spec.handler', /DNS-1123 label/],
    ['a handler of 56 characters (the node label would not fit)', rh(minimal({ handler: 'a'.repeat(56) })), 'spec.handler', /at most 55/],
    ['a handler that is a number', rh(minimal({ handler: 7 })), 'spec.handler', /must be a string/],
    ['no runtime', rh({ handler: 'x' }), 'spec.runtime', /required/],
    ['no runtime type', rh(minimal({ runtime: {} })), 'spec.runtime.type', /required/],
    ['an unknown runtime type', rh(minimal({ runtime: { type: 'kata' } })), 'spec.runtime.type', /not one of berth, runc, crun, binary/],
    ['binary without path', rh(minimal({ runtime: { type: 'binary' } })), 'spec.runtime.path', /required when the type is binary/],
    ['a relative path', rh(minimal({ runtime: { type: 'binary', path: 'usr/bin/crun' } })), 'spec.runtime.path', /absolute/],
    ['a path with ..', rh(minimal({ runtime: { type: 'binary', path: '/usr/../bin/crun' } })), 'spec.runtime.path', /'\.\.'/],
    ['an empty path', rh(minimal({ runtime: { type: 'runc', path: '' } })), 'spec.runtime.path', /empty/],
    ['a relative root', rh(minimal({ runtime: { type: 'runc', root: 'run/runc' } })), 'spec.runtime.root', /absolute/],
    ['a root ending in ..', rh(minimal({ runtime: { type: 'runc', root: '/run/..' } })), 'spec.runtime.root', /'\.\.'/],
    ['systemdCgroup as a string', rh(minimal({ runtime: { type: 'runc', systemdCgroup: 'yes' } })), 'spec.runtime.systemdCgroup', /true or false/],
    ['a nodeSelector value that is no string', rh(minimal({ nodeSelector: { zone: 1 } })), 'spec.nodeSelector[zone]', /string/],
    ['nodeSelector as a list', rh(minimal({ nodeSelector: ['a'] })), 'spec.nodeSelector', /object/],
    ['a RuntimeClass name that is no DNS subdomain', rh(minimal({ runtimeClass: { name: 'Not_A_Name' } })), 'spec.runtimeClass.name', /subdomain/],
    ['create as a string', rh(minimal({ runtimeClass: { create: 'true' } })), 'spec.runtimeClass.create', /true or false/],
    ['a negative overhead', rh(minimal({ runtimeClass: { overhead: { podFixed: { cpu: '-1' } } } })), 'spec.runtimeClass.overhead.podFixed[cpu]', /non-negative quantity/],
    ['a negative integer overhead', rh(minimal({ runtimeClass: { overhead: { podFixed: { cpu: -1 } } } })), 'spec.runtimeClass.overhead.podFixed[cpu]', /non-negative quantity/],
    ['an overhead that is no quantity', rh(minimal({ runtimeClass: { overhead: { podFixed: { memory: '64MB' } } } })), 'spec.runtimeClass.overhead.podFixed[memory]', /quantity/],
    ['a toleration without key and operator', rh(minimal({ runtimeClass: { scheduling: { tolerations: [{ value: 'v' }] } } })), 'spec.runtimeClass.scheduling.tolerations[0].operator', /Exists when the key is empty/],
    ['a toleration with Exists and a value', rh(minimal({ runtimeClass: { scheduling: { tolerations: [{ key: 'k' }, { key: 'k', operator: 'Exists', value: 'v' }] } } })), 'spec.runtimeClass.scheduling.tolerations[1].value', /empty/],
    ['tolerationSeconds without NoExecute', rh(minimal({ runtimeClass: { scheduling: { tolerations: [{ key: 'k', effect: 'NoSchedule', tolerationSeconds: 5 }] } } })), 'spec.runtimeClass.scheduling.tolerations[0].tolerationSeconds', /NoExecute/],
    ['an unknown toleration operator', rh(minimal({ runtimeClass: { scheduling: { tolerations: [{ key: 'k', operator: 'In' }] } } })), 'spec.runtimeClass.scheduling.tolerations[0].operator', /not one of Exists, Equal/],
    ['an unknown toleration effect', rh(minimal({ runtimeClass: { scheduling: { tolerations: [{ key: 'k', effect: 'Evict' }] } } })), 'spec.runtimeClass.scheduling.tolerations[0].effect', /not one of/],
    ['a canary timeout of 0', rh(minimal({ canary: { timeoutSeconds: 0 } })), 'spec.canary.timeoutSeconds', /at least 1/],
    ['a canary timeout of 601', rh(minimal({ canary: { timeoutSeconds: 601 } })), 'spec.canary.timeoutSeconds', /at most 600/],
    ['a fractional canary timeout', rh(minimal({ canary: { timeoutSeconds: 1.5 } })), 'spec.canary.timeoutSeconds', /integer/],
    ['maxUnavailable "abc"', rh(minimal({ rollout: { maxUnavailable: 'abc' } })), 'spec.rollout.maxUnavailable', /neither an integer/],
    ['maxUnavailable 0', rh(minimal({ rollout: { maxUnavailable: 0 } })), 'spec.rollout.maxUnavailable', /at least 1/],
    ['maxUnavailable "0%"', rh(minimal({ rollout: { maxUnavailable: '0%' } })), 'spec.rollout.maxUnavailable', /percentage/],
    ['maxUnavailable "101%"', rh(minimal({ rollout: { maxUnavailable: '101%' } })), 'spec.rollout.maxUnavailable', /percentage/],
    ['maxUnavailable "3" (a number in a string)', rh(minimal({ rollout: { maxUnavailable: '3' } })), 'spec.rollout.maxUnavailable', /neither/],
    ['a negative status count', rh(minimal(), { status: { readyNodes: -1 } }), 'status.readyNodes', /at least 0/],
    ['a condition with an unknown status', rh(minimal(), { status: { conditions: [{ type: 'Ready', status: 'Maybe', reason: 'R', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }] } }), 'status.conditions[0].status', /not one of True, False, Unknown/],
    ['a condition without a reason', rh(minimal(), { status: { conditions: [{ type: 'Ready', status: 'True', reason: '', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }] } }), 'status.conditions[0].reason', /empty/],
    ['a condition with a bad time', rh(minimal(), { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'R', message: '', lastTransitionTime: 'now' }] } }), 'status.conditions[0].lastTransitionTime', /RFC 3339/],
    ['two conditions of one type', rh(minimal(), { status: { conditions: [0, 1].map(() => ({ type: 'Ready', status: 'True', reason: 'R', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' })) } }), 'status.conditions[1].type', /twice/],
    ['a failing node twice', rh(minimal(), { status: { failingNodes: [0, 1].map(() => ({ node: 'n', reason: 'R', message: '' })) } }), 'status.failingNodes[1].node', /twice/],
    ['a rollout without generation', rh(minimal(), { status: { rollout: { nodes: [] } } }), 'status.rollout.generation', /required/],
    ['a rollout node twice', rh(minimal(), { status: { rollout: { generation: 2, nodes: ['a', 'a'] } } }), 'status.rollout.nodes[1]', /twice/],
  ];
  test.each(cases.map(([what, obj, field, message]) => [what, field, obj, message] as const))('%s → %s', (_what, field, obj, message) => {
    const r = rejection(() => parseRuntimeHandler(obj));
    expect(r.field).toBe(field);
    expect(r.message).toMatch(message);
    expect(r.message.startsWith(`${field}: `)).toBe(true);
  });

  test('no object at all', () => {
    expect(rejection(() => parseRuntimeHandler('x')).message).toMatch(/must be an object/);
    expect(rejection(() => parseRuntimeHandler(null)).message).toMatch(/required/);
  });
});

const condition = (type: string, status: Condition['status'], extra: Partial<Condition> = {}): Condition => ({ type, status, reason: 'Because', message: `${type} is ${status}`, lastTransitionTime: '2025-01-01T00:00:00Z', ...extra });

const nodeStatus: BerthNodeStatus = {
  stackVersion: '0.1.0',
  berthd: { healthy: true, version: '0.1.0', message: '' },
  kubeletRuntimeEndpoint: 'unix:///run/berth/berthd.sock',
  runtime: 'berthd',
  cgroupDriver: 'systemd',
  handlers: [
    { handler: 'runc', generation: 2, phase: 'Ready', message: 'ok', lastCanary: { passed: true, time: '2025-01-01T00:00:01Z', message: 'exited 0' } },
    { handler: 'crun', generation: 1, phase: 'Failed', message: '/usr/bin/crun: not found' },
  ],
  conditions: [condition('Ready', 'True', { observedGeneration: 4 })],
};

describe('parseBerthNode', () => {
  test('the status reads from the nested wire shape into the flat type', () => {
    const n = parseBerthNode({
      apiVersion: 'berth.dev/v1alpha1', kind: 'BerthNode', metadata: { name: 'node-1' },
      status: { stackVersion: '1.2.3', berthd: { healthy: false, version: '', message: 'socket missing' }, kubelet: { runtimeEndpoint: 'unix:///run/containerd/containerd.sock', cgroupDriver: 'cgroupfs' }, runtime: 'containerd' },
    });
    expect(n).toEqual({
      metadata: { name: 'node-1' },
      status: { stackVersion: '1.2.3', berthd: { healthy: false, version: '', message: 'socket missing' }, kubeletRuntimeEndpoint: 'unix:///run/containerd/containerd.sock', cgroupDriver: 'cgroupfs', runtime: 'containerd', handlers: [], conditions: [] },
    });
  });

  test('a BerthNode the agent has not written a status for yet has none', () => {
    expect(parseBerthNode({ metadata: { name: 'node-1' } })).toEqual({ metadata: { name: 'node-1' } });
  });

  test('the example in crds/examples/berthnode.yaml parses', () => {
    const n = parseBerthNode(parseYaml(fs.readFileSync(path.join(EXAMPLES, 'berthnode.yaml'), 'utf8')));
    expect(n.status).toMatchObject({ stackVersion: '0.1.0', runtime: 'containerd', cgroupDriver: 'systemd', kubeletRuntimeEndpoint: 'unix:///run/containerd/containerd.sock' });
    expect(n.status?.handlers[0]).toMatchObject({ handler: 'runc', phase: 'Ready', lastCanary: { passed: true } });
  });

  const wire = (): Obj => berthNodeStatusJson(nodeStatus) as Obj;
  const cases: Array<[string, (s: Obj) => void, string, RegExp]> = [
    ['no berthd', (s) => delete s.berthd, 'status.berthd', /required/],
    ['berthd.healthy as a string', (s) => ((s.berthd as Obj).healthy = 'yes'), 'status.berthd.healthy', /true or false/],
    ['no kubelet.runtimeEndpoint', (s) => delete (s.kubelet as Obj).runtimeEndpoint, 'status.kubelet.runtimeEndpoint', /required/],
    ['an unknown cgroup driver', (s) => ((s.kubelet as Obj).cgroupDriver = 'cgroupv2'), 'status.kubelet.cgroupDriver', /not one of cgroupfs, systemd/],
    ['an unknown runtime', (s) => (s.runtime = 'docker'), 'status.runtime', /not one of/],
    ['an unknown handler phase', (s) => (((s.handlers as Obj[])[1]).phase = 'Broken'), 'status.handlers[1].phase', /not one of/],
    ['a negative handler generation', (s) => (((s.handlers as Obj[])[0]).generation = -2), 'status.handlers[0].generation', /at least 0/],
    ['a canary time that is no time', (s) => ((((s.handlers as Obj[])[0]).lastCanary as Obj).time = 'noon'), 'status.handlers[0].lastCanary.time', /RFC 3339/],
    ['one handler twice', (s) => (s.handlers = [(s.handlers as Obj[])[0], (s.handlers as Obj[])[0]]), 'status.handlers[1].handler', /twice/],
  ];
  test.each(cases.map(([what, spoil, field, message]) => [what, field, spoil, message] as const))('%s → %s', (_what, field, spoil, message) => {
    const status = wire();
    spoil(status);
    const r = rejection(() => parseBerthNode({ metadata: { name: 'n' }, status }));
    expect(r.field).toBe(field);
    expect(r.message).toMatch(message);
  });
});

describe('what the agent writes reads back unchanged', () => {
  test('RuntimeHandler status: every field, and without the optional ones', () => {
    const full: RuntimeHandlerStatus = {
      observedGeneration: 7,
      conditions: [condition('Ready', 'False', { observedGeneration: 7 }), condition('Progressing', 'True'), condition('Degraded', 'True')],
      desiredNodes: 3, readyNodes: 1, failedNodes: 1,
      failingNodes: [{ node: 'node-2', reason: 'CanaryFailed', message: 'exit 1' }],
      rollout: { generation: 7, nodes: ['node-1', 'node-3'] },
    };
    const bare: RuntimeHandlerStatus = { conditions: [], desiredNodes: 0, readyNodes: 0, failedNodes: 0, failingNodes: [] };
    for (const s of [full, bare]) {
      const json = JSON.parse(JSON.stringify(runtimeHandlerStatusJson(s)));
      expect(parseRuntimeHandler(rh(minimal(), { status: json })).status).toEqual(s);
    }
    expect(runtimeHandlerStatusJson(bare)).not.toHaveProperty('observedGeneration');
    expect(runtimeHandlerStatusJson(bare)).not.toHaveProperty('rollout');
  });

  test('BerthNode status: the flat type goes out nested (kubelet.runtimeEndpoint, kubelet.cgroupDriver)', () => {
    const json = JSON.parse(JSON.stringify(berthNodeStatusJson(nodeStatus)));
    expect(json.kubelet).toEqual({ runtimeEndpoint: 'unix:///run/berth/berthd.sock', cgroupDriver: 'systemd' });
    expect(json).not.toHaveProperty('kubeletRuntimeEndpoint');
    expect(json).not.toHaveProperty('cgroupDriver');
    expect(parseBerthNode({ metadata: { name: 'n' }, status: json }).status).toEqual(nodeStatus);
  });

  test('a whole RuntimeHandler (runtimeHandlerJson) reads back as itself', () => {
    const h: RuntimeHandler = {
      metadata: { name: 'lowmem', labels: { team: 'a' } },
      spec: {
        handler: 'crun-lowmem', runtime: { type: 'binary', path: '/usr/bin/crun', root: '/run/crun', systemdCgroup: false },
        nodeSelector: { pool: 'small' },
        runtimeClass: { create: true, name: 'lowmem', overheadPodFixed: { cpu: '50m' }, tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }] },
        canary: { enabled: false, timeoutSeconds: 5 }, maxUnavailable: '50%',
      },
    };
    expect(parseRuntimeHandler(JSON.parse(JSON.stringify(runtimeHandlerJson(h))))).toEqual(h);
  });

  test('a RuntimeClass body (runtimeClassJson) is a node.k8s.io/v1 object without server-owned metadata, and reads back', () => {
    const rc: RuntimeClass = {
      metadata: { name: 'lowmem', labels: { 'berth.dev/runtime-handler': 'lowmem' }, uid: 'u', resourceVersion: '9', generation: 1 },
      handler: 'crun-lowmem',
      overhead: { podFixed: { cpu: '50m', memory: '32Mi' } },
      scheduling: { nodeSelector: { 'berth.dev/handler.crun-lowmem': 'ready' }, tolerations: [{ key: 'k', operator: 'Exists' }] },
    };
    const json = JSON.parse(JSON.stringify(runtimeClassJson(rc)));
    expect(json).toMatchObject({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'lowmem' }, handler: 'crun-lowmem' });
    expect(json.metadata).toEqual({ name: 'lowmem', labels: { 'berth.dev/runtime-handler': 'lowmem' } });
    const { uid: _u, resourceVersion: _r, generation: _g, ...writable } = rc.metadata;
    expect(parseRuntimeClass(json)).toEqual({ ...rc, metadata: writable });
    expect(runtimeClassJson({ metadata: { name: 'plain' }, handler: 'plain' })).toEqual({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'plain' }, handler: 'plain' });
  });
});

describe('core objects', () => {
  test('parseNode reads the metadata (labels) and rejects another kind', () => {
    expect(parseNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', labels: { 'berth.dev/handler.runc': 'ready' } }, status: {} }))
      .toEqual({ metadata: { name: 'node-1', labels: { 'berth.dev/handler.runc': 'ready' } } });
    expect(rejection(() => parseNode({ kind: 'Pod', metadata: { name: 'x' } })).field).toBe('kind');
    expect(rejection(() => parseNode({ metadata: { name: 'x', labels: { a: 1 } } })).field).toBe('metadata.labels[a]');
  });

  test('parseRuntimeClass: integer quantities as strings; a missing handler or a bad quantity is named', () => {
    expect(parseRuntimeClass({ metadata: { name: 'a' }, handler: 'a', overhead: { podFixed: { cpu: 1 } } }).overhead).toEqual({ podFixed: { cpu: '1' } });
    expect(rejection(() => parseRuntimeClass({ metadata: { name: 'a' } })).field).toBe('handler');
    expect(rejection(() => parseRuntimeClass({ metadata: { name: 'a' }, handler: 'a', overhead: { podFixed: { cpu: 'lots' } } })).field).toBe('overhead.podFixed[cpu]');
    expect(rejection(() => parseRuntimeClass({ metadata: { name: 'a' }, handler: 'a', scheduling: { tolerations: [{ operator: 'Equal' }] } })).field).toBe('scheduling.tolerations[0].operator');
  });

  test('parsePod: namespace, name, runtimeClassName and phase; no status yet is Pending', () => {
    expect(parsePod({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns', name: 'p' }, spec: { runtimeClassName: 'runc', nodeName: 'n' }, status: { phase: 'Running' } }))
      .toEqual({ namespace: 'ns', name: 'p', runtimeClassName: 'runc', phase: 'Running' });
    expect(parsePod({ metadata: { namespace: 'ns', name: 'p' }, spec: {} })).toEqual({ namespace: 'ns', name: 'p', phase: 'Pending' });
    expect(rejection(() => parsePod({ metadata: { name: 'p' } })).field).toBe('metadata.namespace');
    expect(rejection(() => parsePod({ metadata: { namespace: 'ns', name: 'p' }, status: { phase: 'Done' } })).field).toBe('status.phase');
  });
});

describe('quantities', () => {
  test('syntax', () => {
    for (const q of ['1', '0', '250m', '64Mi', '1.5Gi', '.5', '1e3', '1E', '+2k', '-1']) expect([q, isQuantity(q)]).toEqual([q, true]);
    for (const q of ['', 'Mi', '1MB', '1.2.3', '--1', '1 Gi', '1e', '1e999']) expect([q, isQuantity(q)]).toEqual([q, false]);
    expect(isNonNegativeQuantity('-1')).toBe(false);
    expect(isNonNegativeQuantity('-0')).toBe(true);
    expect(isNonNegativeQuantity('0.000n')).toBe(true);
  });

  test('equality by value, as the API server rewrites a RuntimeClass overhead in canonical form', () => {
    const same: Array<[string, string]> = [['1000m', '1'], ['1024Mi', '1Gi'], ['0.5', '500m'], ['1e3', '1k'], ['1.5Gi', '1536Mi'], ['+2', '2'], ['0', '-0']];
    for (const [a, b] of same) expect([a, b, quantityEquals(a, b)]).toEqual([a, b, true]);
    const different: Array<[string, string]> = [['1', '1001m'], ['1Gi', '1G'], ['1Ki', '1k'], ['1', 'x']];
    for (const [a, b] of different) expect([a, b, quantityEquals(a, b)]).toEqual([a, b, false]);
  });
});

describe('setCondition', () => {
  const t0 = new Date('2025-01-01T00:00:00.123Z');
  const t1 = new Date('2025-01-01T00:05:00Z');

  test('a new type is appended at `now`, in RFC 3339 at second precision', () => {
    const list = setCondition([], { type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting' }, t0);
    expect(list).toEqual([{ type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting', lastTransitionTime: '2025-01-01T00:00:00Z' }]);
    expect(rfc3339(t0)).toBe('2025-01-01T00:00:00Z');
  });

  test('the same status with a new reason or message keeps the transition time', () => {
    const before = [condition('Ready', 'False')];
    const after = setCondition(before, { type: 'Ready', status: 'False', reason: 'CanaryRunning', message: 'canary on 2 nodes', observedGeneration: 2 }, t1);
    expect(after).toEqual([{ type: 'Ready', status: 'False', reason: 'CanaryRunning', message: 'canary on 2 nodes', observedGeneration: 2, lastTransitionTime: '2025-01-01T00:00:00Z' }]);
    expect(before[0].reason).toBe('Because');
  });

  test('a status change moves the transition time to `now`, in place, leaving the other types alone', () => {
    const before = [condition('Progressing', 'True'), condition('Ready', 'False'), condition('Degraded', 'False')];
    const after = setCondition(before, { type: 'Ready', status: 'True', reason: 'AllNodesReady', message: '3/3' }, t1);
    expect(after.map((c) => c.type)).toEqual(['Progressing', 'Ready', 'Degraded']);
    expect(findCondition(after, 'Ready')).toEqual({ type: 'Ready', status: 'True', reason: 'AllNodesReady', message: '3/3', lastTransitionTime: '2025-01-01T00:05:00Z' });
    expect(after[0]).toBe(before[0]);
    expect(after[2]).toBe(before[2]);
  });

  test('nothing changed: the same list comes back, so there is nothing to write', () => {
    const before = [condition('Ready', 'True', { observedGeneration: 3 })];
    const c = before[0];
    expect(setCondition(before, { type: c.type, status: c.status, reason: c.reason, message: c.message, observedGeneration: 3 }, t1)).toBe(before);
    expect(setCondition(before, { type: c.type, status: c.status, reason: c.reason, message: c.message, observedGeneration: 4 }, t1)).not.toBe(before);
    expect(setCondition(before, { type: c.type, status: c.status, reason: c.reason, message: c.message }, t1)).not.toBe(before);
  });

  test('True → Unknown → True moves the time each time', () => {
    let list: readonly Condition[] = [condition('Ready', 'True')];
    list = setCondition(list, { type: 'Ready', status: 'Unknown', reason: 'LeaderLost', message: '' }, t1);
    expect(list[0].lastTransitionTime).toBe('2025-01-01T00:05:00Z');
    list = setCondition(list, { type: 'Ready', status: 'True', reason: 'Because', message: '' }, new Date('2025-01-01T00:06:00Z'));
    expect(list[0].lastTransitionTime).toBe('2025-01-01T00:06:00Z');
  });

  test('removeCondition drops a type, and returns the same list when it is not there', () => {
    const before = [condition('Ready', 'True'), condition('Degraded', 'False')];
    expect(removeCondition(before, 'Degraded')).toEqual([before[0]]);
    expect(removeCondition(before, 'Progressing')).toBe(before);
  });
});
