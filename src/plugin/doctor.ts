/**
 * `kubectl berth doctor NODE` (and `migrate NODE --dry-run`): a dry-run NodeMigration of its own
 * (NODE-doctor-xxxxx, so that it never clashes with the node's real one), whose preflight the node's agent runs
 * and records; the plugin waits for it, reports the findings and deletes the object whatever happens.
 */
import { randomInt } from 'node:crypto';
import type { NodeMigration } from '../agent';
import { BerthError, notFound, precondition } from '../common/errors';
import type { PluginApi } from './api';
import type { MigrationSettings } from './flags';
import { isTerminal, lastMessage, phaseOf } from './phases';
import { doctorReport, type DoctorReport } from './report';
import { POLL_MS, sleep } from './wait';

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
export const randomSuffix = (): string => Array.from({ length: 5 }, () => ALNUM[randomInt(ALNUM.length)]).join('');

export interface DoctorOptions {
  readonly timeoutSeconds: number;
  readonly settings: MigrationSettings;
  readonly signal?: AbortSignal;
  /** Between polls; default POLL_MS (tests shorten it). */
  readonly pollMs?: number;
  readonly suffix?: string;
}

export async function runDoctor(api: PluginApi, node: string, o: DoctorOptions): Promise<DoctorReport> {
  if (!(await api.getNode(node))) throw notFound(`node "${node}" not found`);
  // Object names end at 253 characters, node names too.
  const name = `${node.slice(0, 239).replace(/[-.]+$/, '')}-doctor-${o.suffix ?? randomSuffix()}`;
  await api.createMigration(name, node, { ...o.settings, dryRun: true });
  try {
    const done = await waitTerminal(api, name, node, o);
    const findings = done.status?.findings ?? [];
    if (phaseOf(done) !== 'Completed' && findings.length === 0) throw precondition(`the preflight of node ${node} ended ${phaseOf(done)}: ${lastMessage(done) || 'no message'}`);
    return doctorReport(node, findings, o.settings.force);
  } finally {
    await api.deleteMigration(name);
  }
}

async function waitTerminal(api: PluginApi, name: string, node: string, o: DoctorOptions): Promise<NodeMigration> {
  const deadline = Date.now() + o.timeoutSeconds * 1000;
  for (;;) {
    const m = await api.getMigration(name);
    if (!m) throw notFound(`nodemigration ${name} was deleted before its preflight finished`);
    if (m.status?.phase !== undefined && isTerminal(m.status.phase)) return m;
    if (Date.now() >= deadline) {
      throw new BerthError('DeadlineExceeded', m.status?.phase === undefined
        ? `no berth-agent answered for node ${node} within ${o.timeoutSeconds} s: is berth-agent running there?`
        : `the preflight of node ${node} did not finish within ${o.timeoutSeconds} s (it is at ${m.status.phase})`);
    }
    await sleep(Math.min(o.pollMs ?? POLL_MS, Math.max(0, deadline - Date.now())), o.signal);
  }
}
