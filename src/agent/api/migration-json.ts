/**
 * What the agent writes for a NodeMigration, in the wire shape of crds/nodemigrations.berth.dev.yaml: the
 * inverse of validate-migration.ts (separate, as to-json.ts is for the other kinds). Absent optional fields are
 * left out rather than written as null.
 */
import { conditionsJson } from './conditions';
import type { NodeMigration, NodeMigrationStatus } from './migration-types';
import { dropUndefined } from './read';
import { writableMeta } from './to-json';
import { API_VERSION } from './types';

type Json = Record<string, unknown>;

/** The value of `status`, for a patch of the status subresource. */
export function nodeMigrationStatusJson(s: NodeMigrationStatus): Json {
  return dropUndefined({
    observedGeneration: s.observedGeneration,
    phase: s.phase,
    conditions: conditionsJson(s.conditions),
    steps: s.steps.map((x) => ({ phase: x.phase, time: x.time, message: x.message })),
    findings: s.findings.map((f) => ({ check: f.check, severity: f.severity, message: f.message, objects: f.objects.map((o) => dropUndefined({ ...o })) })),
    backups: s.backups.map((b) => dropUndefined({ path: b.path, sha256: b.sha256, what: b.what })),
  });
}

/** A whole NodeMigration with every default written out (kubectl-berth creates them; tests round-trip them). */
export function nodeMigrationJson(m: NodeMigration): Json {
  const { spec } = m;
  return dropUndefined({
    apiVersion: API_VERSION,
    kind: 'NodeMigration',
    metadata: writableMeta(m.metadata),
    spec: dropUndefined({
      node: spec.node,
      targetRuntime: spec.targetRuntime,
      drain: dropUndefined({ ...spec.drain }),
      prePullImages: spec.prePullImages,
      verifyTimeoutSeconds: spec.verifyTimeoutSeconds,
      rollbackPolicy: spec.rollbackPolicy,
      stopOldRuntime: spec.stopOldRuntime,
      force: spec.force,
      dryRun: spec.dryRun,
      rollback: spec.rollback,
    }),
    status: m.status ? nodeMigrationStatusJson(m.status) : undefined,
  });
}
