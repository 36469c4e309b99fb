/**
 * Progress of one or more migrations while the plugin waits (--watch, pools). On a terminal, one line per node
 * redrawn in place (NODE PHASE ELAPSED [k/7] LAST-STEP-MESSAGE); otherwise (a log, a pipe) one line per new step
 * as it appears, so that the output reads as a history. The rows are pure; the display only writes them.
 */
import type { NodeMigration } from '../agent';
import { table } from '../common/table';
import { formatElapsed } from './duration';
import { FORWARD_PHASES, isTerminal, phaseOf } from './phases';

export interface ProgressRow {
  readonly node: string;
  /** Absent: not created yet (a pool's node waiting for its turn). */
  readonly migration?: NodeMigration;
}

export interface Output {
  write(s: string): unknown;
  readonly isTTY?: boolean;
}

/** [k/7]: how far along the forward path the migration got (a rollback shows where it turned back). */
export function stepCounter(m: NodeMigration): string {
  const reached = [phaseOf(m), ...(m.status?.steps ?? []).map((s) => s.phase)].map((p) => FORWARD_PHASES.indexOf(p));
  return `[${Math.max(0, ...reached) + 1}/${FORWARD_PHASES.length}]`;
}

function elapsed(m: NodeMigration, now: Date): string {
  const from = Date.parse(m.metadata.creationTimestamp ?? '');
  if (Number.isNaN(from)) return '-';
  const last = m.status?.steps.at(-1)?.time;
  const to = isTerminal(phaseOf(m)) && last ? Date.parse(last) : now.getTime();
  return formatElapsed(to - from);
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ');

export function progressRows(rows: readonly ProgressRow[], now: Date): string[][] {
  return rows.map(({ node, migration: m }) => (m
    ? [node, phaseOf(m), elapsed(m, now), `${stepCounter(m)} ${oneLine(m.status?.steps.at(-1)?.message ?? '')}`.trimEnd()]
    : [node, 'Waiting', '-', '']));
}

/** The steps of `m` after the first `seen`, as lines `NODE  Phase  message`. */
export function newStepLines(node: string, m: NodeMigration, seen: number): string[] {
  return (m.status?.steps ?? []).slice(seen).map((s) => `${node}  ${s.phase}  ${oneLine(s.message)}`);
}

export class ProgressDisplay {
  private drawn = 0;
  /** Per node, the last step printed (not on a TTY). */
  private readonly seen = new Map<string, string>();

  constructor(private readonly out: Output, private readonly now: () => Date = () => new Date()) {}

  update(rows: readonly ProgressRow[]): void {
    if (this.out.isTTY) {
      const lines = table(progressRows(rows, this.now()), 10, 3).split('\n').filter(Boolean).map((l) => l.trimEnd());
      // Up to the first line drawn last time, then each line cleared and written again.
      const up = this.drawn ? `\x1b[${this.drawn}A` : '';
      this.out.write(up + lines.map((l) => `\x1b[2K${l}\n`).join(''));
      this.drawn = lines.length;
      return;
    }
    for (const r of rows) {
      const steps = r.migration?.status?.steps ?? [];
      if (!r.migration || steps.length === 0) continue;
      // By the last step printed, not by count: the agent may drop old steps (the list is bounded).
      const key = (x: (typeof steps)[number]) => `${x.time} ${x.phase} ${x.message}`;
      const last = this.seen.get(r.node);
      const lines = newStepLines(r.node, r.migration, last === undefined ? 0 : steps.map(key).lastIndexOf(last) + 1);
      if (lines.length) this.out.write(`${lines.join('\n')}\n`);
      this.seen.set(r.node, key(steps[steps.length - 1]));
    }
  }

  /** A line of its own (a note between redraws): later redraws start below it. */
  note(line: string): void {
    this.out.write(`${line}\n`);
    this.drawn = 0;
  }
}
