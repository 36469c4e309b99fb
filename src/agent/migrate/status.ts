/**
 * The NodeMigration status the agent writes, as pure functions of the status it read: a recorded phase appends
 * a step (the newest MAX_LIST kept) and sets the Progressing condition, so that `kubectl get nm` and the
 * conditions say the same as the steps; a backup is added before its file is touched (backup.ts).
 */
import { setCondition } from '../api/conditions';
import type { Finding, MigrationBackup, MigrationPhase, NodeMigration, NodeMigrationStatus } from '../api/migration-types';
import { MAX_LIST } from '../api/validate-migration';

const EMPTY: NodeMigrationStatus = { conditions: [], steps: [], findings: [], backups: [] };
const TERMINAL: ReadonlySet<MigrationPhase> = new Set(['Completed', 'RolledBack', 'Failed']);

export const isTerminal = (phase: MigrationPhase | undefined): boolean => phase !== undefined && TERMINAL.has(phase);

/** The status once `phase` is recorded with `message` (and `findings`, when the phase has them). */
export function recordPhase(m: NodeMigration, phase: MigrationPhase, message: string, now: Date, findings?: readonly Finding[]): NodeMigrationStatus {
  const st = m.status ?? EMPTY;
  const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const progressing = isTerminal(phase)
    ? { type: 'Progressing', status: 'False' as const, reason: phase, message }
    : { type: 'Progressing', status: 'True' as const, reason: phase, message };
  return {
    ...st,
    observedGeneration: m.metadata.generation ?? st.observedGeneration,
    phase,
    steps: [...st.steps, { phase, time, message: message.slice(0, 32_768) }].slice(-MAX_LIST),
    findings: findings ? findings.slice(0, MAX_LIST) : st.findings,
    conditions: setCondition(st.conditions, { ...progressing, observedGeneration: m.metadata.generation }, now),
  };
}

/** The status with `b` in its backups (replacing an entry for the same path). */
export function withBackup(m: NodeMigration, b: MigrationBackup): NodeMigrationStatus {
  const st = m.status ?? EMPTY;
  return { ...st, backups: [...st.backups.filter((x) => x.path !== b.path), b] };
}
