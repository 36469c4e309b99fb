/**
 * Runtime handlers from a drop-in directory: one `<handler>.yaml` per handler holding `{path, root}`, so that
 * berth-agent adds and removes a handler by writing or removing one file, and berthd picks it up without a
 * restart (daemon.ts reloads on SIGHUP and when the directory changes). Other names (an agent's temp files,
 * editors' backups) are ignored. A handler defined both here and in the config file is an error naming both,
 * as is any bad file: a reload that fails keeps the handlers berthd has.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, invalid } from '../common/errors';
import { loadConfig, parseConfigText, validateHandlerName, validateRuntimeHandler, type BerthdConfig, type ConfigOverrides, type RuntimeHandlerConfig } from './config';

const SUFFIX = '.yaml';

/** The handlers in `dir` (missing: none), by handler name. */
export function readRuntimeDropIns(dir: string): Record<string, RuntimeHandlerConfig> {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BerthError('InvalidArgument', `runtimesDir ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const out: Record<string, RuntimeHandlerConfig> = {};
  for (const name of names.filter((n) => n.endsWith(SUFFIX) && !n.startsWith('.')).sort()) {
    const file = path.join(dir, name);
    const handler = name.slice(0, -SUFFIX.length);
    try {
      validateHandlerName(handler, 'file name');
      out[handler] = validateRuntimeHandler(parseConfigText(fs.readFileSync(file, 'utf8'), file), '');
    } catch (err) {
      const e = err instanceof BerthError ? err : new BerthError('InvalidArgument', (err as Error).message);
      throw new BerthError(e.kind, `${file}: ${e.message}`, { cause: err, field: e.field });
    }
  }
  return out;
}

/** The config's own handlers plus the drop-in ones. */
export function withRuntimeDropIns(config: BerthdConfig): BerthdConfig {
  const dropIns = readRuntimeDropIns(config.runtimesDir);
  for (const name of Object.keys(dropIns)) {
    if (config.runtimes[name]) throw invalid(`runtimes.${name}`, `is also defined by ${path.join(config.runtimesDir, name + SUFFIX)}; keep one`);
  }
  return { ...config, runtimes: { ...config.runtimes, ...dropIns } };
}

/** Reads the config file and the drop-ins again (for a reload): only the handlers change without a restart. */
export function reloadRuntimes(file: string | undefined, overrides: ConfigOverrides): Record<string, RuntimeHandlerConfig> {
  return withRuntimeDropIns(loadConfig(file, overrides)).runtimes;
}
