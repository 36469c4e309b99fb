/**
 * The preflight report of `kubectl berth doctor` and `migrate --dry-run`: the findings the node's agent recorded,
 * Blocking first, and whether a real migration would go ahead. Pure: the caller fetched the findings.
 */
import { stringify } from 'yaml';
import type { Finding } from '../agent';
import { table } from '../common/table';

export interface DoctorReport {
  readonly node: string;
  readonly findings: readonly Finding[];
  readonly blocking: number;
  readonly wouldProceed: boolean;
}

const RANK: Record<Finding['severity'], number> = { Blocking: 0, Warning: 1, Info: 2 };

/** `force`: the migration would be created with spec.force, which goes on despite Blocking findings. */
export function doctorReport(node: string, findings: readonly Finding[], force = false): DoctorReport {
  // A stable sort: within a severity, the agent's order.
  const sorted = [...findings].sort((a, b) => RANK[a.severity] - RANK[b.severity]);
  const blocking = findings.filter((f) => f.severity === 'Blocking').length;
  return { node, findings: sorted, blocking, wouldProceed: blocking === 0 || force };
}

const count = (n: number, word: string, plural = `${word}s`) => `${n} ${n === 1 ? word : plural}`;
const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ');

export function renderReport(r: DoctorReport, output: string): string {
  if (output === 'json') return `${JSON.stringify(r, null, 2)}\n`;
  if (output === 'yaml') return stringify(r);
  const n = (s: Finding['severity']) => r.findings.filter((f) => f.severity === s).length;
  const lines = [`Preflight of node ${r.node}: ${count(r.blocking, 'blocking', 'blocking')}, ${count(n('Warning'), 'warning')}, ${n('Info')} info`];
  if (r.findings.length) {
    const rows = r.findings.map((f) => [
      f.severity.toUpperCase(), f.check, oneLine(f.message),
      f.objects.map((o) => `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`).join(', ') || '<none>',
    ]);
    lines.push(table([['SEVERITY', 'CHECK', 'MESSAGE', 'OBJECTS'], ...rows], 10, 3).trimEnd());
  }
  lines.push(r.blocking === 0
    ? `kubectl berth migrate ${r.node} would go ahead.`
    : r.wouldProceed
      ? `kubectl berth migrate ${r.node} --force would go ahead despite ${count(r.blocking, 'blocking finding')}.`
      : `kubectl berth migrate ${r.node} would stop at preflight (${count(r.blocking, 'blocking finding')}); --force goes ahead despite them.`);
  return `${lines.join('\n')}\n`;
}
