/**
 * The NodeMigration boundary: the API server's JSON into migration-types.ts, with the CRD's defaults applied
 * and its rules checked again (an older CRD in the cluster must not let bad input reach the migration, which
 * rewrites kubelet's files). Same conventions as validate.ts: `invalid(field, ...)` names the field at fault,
 * unknown fields are ignored. The wire shape and the types are the same, except that absent status lists read
 * as [] and absent spec fields as their defaults. The reverse is migration-json.ts (re-exported here).
 */
import { invalid } from '../../common/errors';
import { parseConditions } from './conditions';
import { isRfc3339, MESSAGE, OBJECT_NAME, pathProblem } from './formats';
import { expectKind, parseObjectMeta } from './meta';
import {
  FINDING_SEVERITIES,
  MIGRATION_PHASES,
  type DrainOptions,
  type Finding,
  type MigrationBackup,
  type MigrationStep,
  type NodeMigration,
  type NodeMigrationSpec,
  type NodeMigrationStatus,
  type ObjectRef,
} from './migration-types';
import { array, at, boolean, dropUndefined, integer, item, object, oneOf, optional, string, uniqueBy, type StringRules } from './read';
import { API_VERSION } from './types';

export { nodeMigrationJson, nodeMigrationStatusJson } from './migration-json';

/** The CRD's defaults, in one place for the parser and the tests. */
export const DRAIN_TIMEOUT_DEFAULT = 300;
const MAX_SECONDS = 86400;
/** The CRD's maxItems of steps and findings. */
export const MAX_LIST = 256;
const CHECK_NAME: StringRules = { nonEmpty: true, maxLength: 63, pattern: /^[A-Za-z][A-Za-z0-9]*$/, patternName: 'a CamelCase check name such as DockerSocketMount' };
const SHA256: StringRules = { pattern: /^[0-9a-f]{64}$/, patternName: 'a SHA-256 in lower-case hex' };

export function parseNodeMigration(v: unknown): NodeMigration {
  const o = object(v, '');
  expectKind(o, API_VERSION, 'NodeMigration');
  const status = optional(o.status, (x) => parseNodeMigrationStatus(x, 'status'));
  return { metadata: parseObjectMeta(o.metadata), spec: parseSpec(o.spec, 'spec'), ...(status ? { status } : {}) };
}

function parseSpec(v: unknown, field: string): NodeMigrationSpec {
  const s = object(v, field);
  const flag = (key: string) => optional(s[key], (x) => boolean(x, at(field, key))) ?? false;
  const verifyTimeoutSeconds = optional(s.verifyTimeoutSeconds, (x) => integer(x, at(field, 'verifyTimeoutSeconds'), { min: 10, max: MAX_SECONDS }));
  return {
    node: string(s.node, at(field, 'node'), OBJECT_NAME),
    targetRuntime: optional(s.targetRuntime, (x) => oneOf(x, at(field, 'targetRuntime'), ['berth'] as const)) ?? 'berth',
    drain: parseDrain(s.drain, at(field, 'drain')),
    prePullImages: flag('prePullImages'),
    ...(verifyTimeoutSeconds === undefined ? {} : { verifyTimeoutSeconds }),
    rollbackPolicy: optional(s.rollbackPolicy, (x) => oneOf(x, at(field, 'rollbackPolicy'), ['Automatic', 'Manual'] as const)) ?? 'Automatic',
    ...(s.stopOldRuntime === undefined ? {} : { stopOldRuntime: boolean(s.stopOldRuntime, at(field, 'stopOldRuntime')) }),
    force: flag('force'),
    dryRun: flag('dryRun'),
    rollback: flag('rollback'),
  };
}

function parseDrain(v: unknown, field: string): DrainOptions {
  const d = optional(v, (x) => object(x, field)) ?? {};
  const flag = (key: string) => optional(d[key], (x) => boolean(x, at(field, key))) ?? false;
  return dropUndefined({
    timeoutSeconds: optional(d.timeoutSeconds, (x) => integer(x, at(field, 'timeoutSeconds'), { min: 1, max: MAX_SECONDS })) ?? DRAIN_TIMEOUT_DEFAULT,
    gracePeriodSeconds: optional(d.gracePeriodSeconds, (x) => integer(x, at(field, 'gracePeriodSeconds'), { min: 0, max: MAX_SECONDS })),
    deleteEmptyDirData: flag('deleteEmptyDirData'),
    force: flag('force'),
  });
}

function parseNodeMigrationStatus(v: unknown, field: string): NodeMigrationStatus {
  const s = object(v, field);
  return dropUndefined({
    observedGeneration: optional(s.observedGeneration, (x) => integer(x, at(field, 'observedGeneration'), { min: 0 })),
    phase: optional(s.phase, (x) => oneOf(x, at(field, 'phase'), MIGRATION_PHASES)),
    conditions: optional(s.conditions, (x) => parseConditions(x, at(field, 'conditions'))) ?? [],
    steps: optional(s.steps, (x) => boundedList(x, at(field, 'steps'), MAX_LIST, parseStep)) ?? [],
    findings: optional(s.findings, (x) => boundedList(x, at(field, 'findings'), MAX_LIST, parseFinding)) ?? [],
    backups: optional(s.backups, (x) => uniqueBy(boundedList(x, at(field, 'backups'), 64, parseBackup), (b) => b.path, at(field, 'backups'), 'path')) ?? [],
  });
}

/** An array of at most `max` items, each read by `read` with its indexed field. */
function boundedList<T>(v: unknown, field: string, max: number, read: (x: unknown, f: string) => T): readonly T[] {
  const list = array(v, field);
  if (list.length > max) throw invalid(field, `must have at most ${max} items (it has ${list.length})`);
  return list.map((x, i) => read(x, item(field, i)));
}

function time(v: unknown, field: string): string {
  const t = string(v, field);
  if (!isRfc3339(t)) throw invalid(field, `${JSON.stringify(t)} is not an RFC 3339 time`);
  return t;
}

function parseStep(v: unknown, field: string): MigrationStep {
  const s = object(v, field);
  return {
    phase: oneOf(s.phase, at(field, 'phase'), MIGRATION_PHASES),
    time: time(s.time, at(field, 'time')),
    message: string(s.message, at(field, 'message'), MESSAGE),
  };
}

function parseFinding(v: unknown, field: string): Finding {
  const f = object(v, field);
  return {
    check: string(f.check, at(field, 'check'), CHECK_NAME),
    severity: oneOf(f.severity, at(field, 'severity'), FINDING_SEVERITIES),
    message: string(f.message, at(field, 'message'), MESSAGE),
    objects: optional(f.objects, (x) => boundedList(x, at(field, 'objects'), MAX_LIST, parseObjectRef)) ?? [],
  };
}

function parseObjectRef(v: unknown, field: string): ObjectRef {
  const r = object(v, field);
  return dropUndefined({
    kind: string(r.kind, at(field, 'kind'), { nonEmpty: true, maxLength: 63 }),
    namespace: optional(r.namespace, (x) => string(x, at(field, 'namespace'), { maxLength: 63 })),
    name: string(r.name, at(field, 'name'), { nonEmpty: true, maxLength: 253 }),
  });
}

function parseBackup(v: unknown, field: string): MigrationBackup {
  const b = object(v, field);
  const p = string(b.path, at(field, 'path'), { nonEmpty: true, maxLength: 4096 });
  const problem = pathProblem(p);
  if (problem) throw invalid(at(field, 'path'), `${JSON.stringify(p)} ${problem}`);
  return dropUndefined({
    path: p,
    sha256: optional(b.sha256, (x) => string(x, at(field, 'sha256'), SHA256)),
    what: string(b.what, at(field, 'what'), { maxLength: 1024 }),
  });
}
