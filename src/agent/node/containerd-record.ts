/**
 * What containerd's config cannot hold without a restart: which RuntimeHandler (uid, generation) each of
 * Berth's handlers was configured from, and the handler's containerd settings, so that the full set can be
 * written again when one handler changes. Kept beside the main config (`<config>.berth-handlers.json`, not
 * read by containerd) so that a generation bump that changes no setting rewrites only this file, never
 * containerd's, and survives a reboot. The handlers themselves are what containerd's files say; this record
 * only annotates them, and goes when the last handler does.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from '../../common/atomic';
import { invalid } from '../../common/errors';
import type { ContainerdHandler } from '../containerd';

export interface RecordedHandler {
  readonly runtimeHandler: string;
  readonly uid?: string;
  readonly generation: number;
  readonly config: ContainerdHandler;
}

interface RecordJson {
  kind: 'berth-containerd-handlers';
  handlers: Record<string, RecordedHandler>;
}

export const recordPathOf = (configPath: string): string => `${configPath}.berth-handlers.json`;

export function readRecord(file: string): Map<string, RecordedHandler> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  let j: Partial<RecordJson>;
  try {
    j = JSON.parse(text) as Partial<RecordJson>;
  } catch (err) {
    throw invalid(file, `not a Berth handler record: ${(err as Error).message}`);
  }
  if (j.kind !== 'berth-containerd-handlers' || typeof j.handlers !== 'object' || j.handlers === null) throw invalid(file, 'not a Berth handler record');
  const out = new Map<string, RecordedHandler>();
  for (const [name, h] of Object.entries(j.handlers)) {
    if (!Number.isInteger(h?.generation) || typeof h.config?.binaryName !== 'string') throw invalid(`${file}.handlers.${name}`, 'malformed');
    out.set(name, h);
  }
  return out;
}

/** Writes the record (sorted, so an unchanged one is byte-identical), or removes it when empty. */
export function writeRecord(file: string, handlers: ReadonlyMap<string, RecordedHandler>): void {
  if (handlers.size === 0) {
    fs.rmSync(file, { force: true });
    return;
  }
  const sorted = Object.fromEntries([...handlers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const j: RecordJson = { kind: 'berth-containerd-handlers', handlers: sorted };
  const text = `${JSON.stringify(j, null, 2)}\n`;
  try {
    if (fs.readFileSync(file, 'utf8') === text) return;
  } catch {
    // not there yet
  }
  writeFileAtomic(file, text, 0o600);
}
