/**
 * Runtime handlers on a node whose CRI is berthd: one drop-in `<runtimesDir>/<handler>.yaml` each, which
 * berthd loads without a restart (src/cri/runtimes-dropin.ts). The agent marks the files it writes with the
 * RuntimeHandler they come from, so that reading the directory back tells which handlers are configured at
 * which generation, and files it did not write are never touched. A change counts as applied once berthd's
 * CRI Status lists (or no longer lists) the handler.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../../common/atomic';
import { BerthError } from '../../common/errors';
import type { ConfigureHandler, ConfiguredHandler } from '../reconcile';

export const MARK = '# berth-agent:';
const APPLY_TIMEOUT_MS = 10_000;

export interface BerthdHandlerOptions {
  /** The drop-in directory as the agent sees it. */
  dir: string;
  /** The handler names berthd serves now (CRI Status). */
  servedHandlers(): Promise<string[]>;
}

export class BerthdHandlers {
  constructor(private readonly o: BerthdHandlerOptions) {}

  /** The handlers the agent configured, as their files say. */
  configured(): ConfiguredHandler[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.o.dir);
    } catch {
      return [];
    }
    const out: ConfiguredHandler[] = [];
    for (const name of names.filter((n) => n.endsWith('.yaml')).sort()) {
      const mark = readMark(path.join(this.o.dir, name));
      if (mark) out.push({ handler: name.slice(0, -'.yaml'.length), ...mark });
    }
    return out;
  }

  /** Writes the drop-in for `binary` (its path as berthd sees it) and waits until berthd serves the handler. */
  async configure(a: ConfigureHandler, binary: string): Promise<void> {
    const header = `${MARK} runtimeHandler=${a.runtimeHandler} uid=${a.uid ?? ''} generation=${a.generation}\n`
      + '# Written by berth-agent from the RuntimeHandler above; edits are overwritten. Remove the RuntimeHandler instead.\n';
    fs.mkdirSync(this.o.dir, { recursive: true, mode: 0o755 });
    const file = path.join(this.o.dir, `${a.handler}.yaml`);
    const existing = readMark(file);
    if (fs.existsSync(file) && !existing) throw new BerthError('FailedPrecondition', `${file} exists and was not written by berth-agent; remove it or pick another handler name`);
    writeFileAtomic(file, header + stringify({ path: binary, ...(a.runtime.root ? { root: a.runtime.root } : {}) }), 0o644);
    await this.until(a.handler, true);
  }

  async unconfigure(handler: string): Promise<void> {
    const file = path.join(this.o.dir, `${handler}.yaml`);
    if (readMark(file)) fs.rmSync(file, { force: true });
    await this.until(handler, false);
  }

  /** Bounded: berthd reloads within a fraction of a second of the change. */
  private async until(handler: string, served: boolean): Promise<void> {
    const deadline = Date.now() + APPLY_TIMEOUT_MS;
    for (;;) {
      const names = await this.o.servedHandlers();
      if (names.includes(handler) === served) return;
      if (Date.now() > deadline) {
        throw new BerthError('Unavailable', `berthd did not ${served ? 'pick up' : 'drop'} handler ${handler} within ${APPLY_TIMEOUT_MS / 1000} s (its log says why; the drop-in is ${path.join(this.o.dir, handler + '.yaml')})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The mark line of a drop-in the agent wrote, or undefined. */
function readMark(file: string): { generation: number; uid?: string } | undefined {
  let first: string;
  try {
    first = fs.readFileSync(file, 'utf8').split('\n', 1)[0];
  } catch {
    return undefined;
  }
  if (!first.startsWith(MARK)) return undefined;
  const fields = Object.fromEntries(first.slice(MARK.length).trim().split(/\s+/).map((kv) => kv.split('=', 2) as [string, string]));
  const generation = Number(fields.generation);
  if (!Number.isInteger(generation)) return undefined;
  return { generation, ...(fields.uid ? { uid: fields.uid } : {}) };
}
