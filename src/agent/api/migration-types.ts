/**
 * The NodeMigration kind (crds/nodemigrations.berth.dev.yaml): one node's move onto berthd, run by that node's
 * agent (issue 09). Kept apart from types.ts because only the migration code uses it; the shared pieces
 * (ObjectMeta, Condition) come from there. As with the other kinds, validate-migration.ts parses the wire
 * form into these types once, so the migration code trusts them.
 */
import type { Condition, ObjectMeta } from './types';

/** In the order a migration goes through them; RollingBack, RolledBack and Failed are the ways out on failure. */
export const MIGRATION_PHASES = ['Pending', 'Preflight', 'Cordoned', 'Drained', 'Switching', 'Verifying', 'Completed', 'RollingBack', 'RolledBack', 'Failed'] as const;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];

export const FINDING_SEVERITIES = ['Blocking', 'Warning', 'Info'] as const;
/** Blocking stops the migration unless spec.force; Warning and Info are only reported. */
export type FindingSeverity = (typeof FINDING_SEVERITIES)[number];

export type RollbackPolicy = 'Automatic' | 'Manual';

export interface DrainOptions {
  /** How long evictions are retried; default 300. */
  readonly timeoutSeconds: number;
  /** Unset: each pod's own terminationGracePeriodSeconds. */
  readonly gracePeriodSeconds?: number;
  /** Evict pods with emptyDir volumes too; default false. */
  readonly deleteEmptyDirData: boolean;
  /** Evict pods no controller owns too; default false. */
  readonly force: boolean;
}

export interface NodeMigrationSpec {
  readonly node: string;
  readonly targetRuntime: 'berth';
  readonly drain: DrainOptions;
  /** Default false. */
  readonly prePullImages: boolean;
  /** Seconds the node has to be Ready on berthd after the switch; unset: VERIFY_TIMEOUT_DEFAULT_SECONDS. */
  readonly verifyTimeoutSeconds?: number;
  /** Default Automatic. */
  readonly rollbackPolicy: RollbackPolicy;
  /** Stop the runtime kubelet leaves (its units) once kubelet is off it; unset: false, it keeps running. */
  readonly stopOldRuntime?: boolean;
  /** Go on despite Blocking findings; default false. */
  readonly force: boolean;
  /** Preflight only: record the findings, change nothing, end Completed; default false. */
  readonly dryRun: boolean;
  /** Undo the migration (kubectl berth rollback); once true it stays true. */
  readonly rollback: boolean;
}

/** An object a finding is about (a pod, its owner, a node). Cluster-scoped kinds have no namespace. */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export interface Finding {
  /** The check's name (CamelCase), e.g. DockerSocketMount. */
  readonly check: string;
  readonly severity: FindingSeverity;
  readonly message: string;
  readonly objects: readonly ObjectRef[];
}

export interface MigrationStep {
  readonly phase: MigrationPhase;
  /** RFC 3339. */
  readonly time: string;
  readonly message: string;
}

/** A file the migration changed, as it was before. */
export interface MigrationBackup {
  /** The host's path of the file. */
  readonly path: string;
  /** SHA-256 (hex) of the bytes before the change; absent when the migration created the file (rollback removes it). */
  readonly sha256?: string;
  readonly what: string;
}

export interface NodeMigrationStatus {
  readonly observedGeneration?: number;
  /** Absent until the agent first writes the status. */
  readonly phase?: MigrationPhase;
  readonly conditions: readonly Condition[];
  readonly steps: readonly MigrationStep[];
  readonly findings: readonly Finding[];
  readonly backups: readonly MigrationBackup[];
}

export interface NodeMigration {
  readonly metadata: ObjectMeta;
  readonly spec: NodeMigrationSpec;
  readonly status?: NodeMigrationStatus;
}
