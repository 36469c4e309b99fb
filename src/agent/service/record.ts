/**
 * `<state>/berthd.agent.pid`: the berthd an agent runs with --service-manager direct, as exactly as the next
 * agent needs to decide whether to adopt it: its PID and start time (a recycled PID is not berthd), the
 * binary and config file it was started with, the config's sha256 at that moment and the version it reported.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from '../../common/atomic';
import type { ProcessId } from './proc';

export const RECORD_NAME = 'berthd.agent.pid';

export interface BerthdRecord extends ProcessId {
  /** The berthd program as started (daemon view), e.g. /opt/berth/0.1.0/bin/berthd. */
  readonly binary: string;
  /** Its --config (daemon view). */
  readonly configFile: string;
  /** sha256 of the config file's bytes it was started with (or, for an adopted one, found with). */
  readonly configHash: string;
  /** CRI runtime_version it answered with ('' until it did). */
  readonly version: string;
  /** The agent started it, or found it running and adopted it. */
  readonly origin: 'started' | 'adopted';
}

export function readRecord(file: string): BerthdRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<BerthdRecord>;
    if (typeof r.pid !== 'number' || typeof r.startTime !== 'string' || typeof r.binary !== 'string' || typeof r.configHash !== 'string') return undefined;
    return { pid: r.pid, startTime: r.startTime, binary: r.binary, configFile: String(r.configFile ?? ''), configHash: r.configHash, version: String(r.version ?? ''), origin: r.origin === 'adopted' ? 'adopted' : 'started' };
  } catch {
    return undefined;
  }
}

/** /run is a tmpfs: rename alone is atomic against a killed agent, no fsync needed. */
export function writeRecord(file: string, r: BerthdRecord): void {
  writeFileAtomic(file, `${JSON.stringify(r)}\n`, 0o600, { durable: false });
}

export function removeRecord(file: string): void {
  fs.rmSync(file, { force: true });
}
