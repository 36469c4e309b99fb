/**
 * Live reload of the runtime handlers: on SIGHUP, and when the drop-in directory or the directory holding it
 * (where config.yaml usually is) changes. Changes come in bursts (a temp file, then a rename), so reloads are
 * debounced; a reload that yields the handlers berthd already has does nothing, and one that fails is logged
 * and keeps them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asBerthError } from '../common/errors';
import type { Logger } from '../common/log';
import type { ConfigOverrides, RuntimeHandlerConfig } from './config';
import { reloadRuntimes } from './runtimes-dropin';

const DEBOUNCE_MS = 100;

export interface RuntimeReloadOptions {
  dir: string;
  file: string | undefined;
  overrides: ConfigOverrides;
  log: Logger;
  /** Installs the new handlers; returns every handler name now served. */
  apply(runtimes: Record<string, RuntimeHandlerConfig>): string[];
}

/** Starts watching; the returned function stops it. */
export function watchRuntimeDropIns(o: RuntimeReloadOptions): () => void {
  let last = '';
  let timer: NodeJS.Timeout | undefined;
  const watchers = new Map<string, fs.FSWatcher>();

  const reload = (why: string) => {
    try {
      const runtimes = reloadRuntimes(o.file, o.overrides);
      const key = JSON.stringify(runtimes);
      if (key !== last) {
        const handlers = o.apply(runtimes);
        o.log.info('runtime handlers reloaded', { reason: why, handlers });
        last = key;
      }
    } catch (err) {
      o.log.error('runtime handlers not reloaded; keeping the current ones', { reason: why, error: asBerthError(err).message });
    }
    watch();
  };
  const soon = (why: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => reload(why), DEBOUNCE_MS);
  };
  // The parent too: the drop-in directory may not exist yet, or be replaced as a whole.
  const watch = () => {
    for (const dir of [o.dir, path.dirname(o.dir)]) {
      if (watchers.has(dir)) continue;
      try {
        const w = fs.watch(dir, { persistent: false }, () => soon(`${dir} changed`));
        w.on('error', () => {
          w.close();
          watchers.delete(dir);
        });
        watchers.set(dir, w);
      } catch {
        // Not there (yet): the next reload tries again.
      }
    }
  };
  const onHup = () => soon('SIGHUP');

  // The handlers berthd started with are the baseline, so that the first change is reported.
  try {
    last = JSON.stringify(reloadRuntimes(o.file, o.overrides));
  } catch {
    last = '';
  }
  watch();
  process.on('SIGHUP', onHup);
  return () => {
    process.off('SIGHUP', onHup);
    clearTimeout(timer);
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
}
