/**
 * Runtime handlers (RuntimeClass `handler` → OCI runtime): "berth" is the berth-run library inside the shim;
 * "runc" and "crun" are found on PATH unless the config names them; any other handler must be in the
 * config's `runtimes` (or its runtimes drop-in directory). An unknown handler is an error naming it. The table
 * is replaced whole when the configuration is reloaded (SIGHUP, or a change in the drop-in directory): a
 * container keeps the runtime its handler resolved to when it was created.
 */
import * as path from 'node:path';
import { invalid } from '../../common/errors';
import { isExecutable } from '../../common/files';

export const DEFAULT_HANDLER = 'berth';
const WELL_KNOWN = ['runc', 'crun'];

export interface RuntimeHandlers {
  /** Handler name → "berth" or the binary's absolute path. */
  resolve(handler: string, field: string): string;
  /** Every handler this node can run, the default first. */
  names(): string[];
  /** Replaces the configured handlers (the built-in and PATH ones are looked up again too). */
  replace(configured: Record<string, { path: string }>): void;
}

function handlerTable(configured: Record<string, { path: string }>, searchPath: string): Map<string, string> {
  const table = new Map<string, string>([[DEFAULT_HANDLER, 'berth']]);
  for (const name of WELL_KNOWN) {
    const found = searchPath.split(':').map((d) => path.join(d, name)).find((p) => isExecutable(p));
    if (found) table.set(name, found);
  }
  for (const [name, h] of Object.entries(configured)) table.set(name, h.path);
  return table;
}

export function runtimeHandlers(configured: Record<string, { path: string }>, searchPath = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): RuntimeHandlers {
  let table = handlerTable(configured, searchPath);
  return {
    replace(next) {
      table = handlerTable(next, searchPath);
    },
    resolve(handler, field) {
      const name = handler === '' ? DEFAULT_HANDLER : handler;
      const runtime = table.get(name);
      if (runtime === undefined) throw invalid(field, `unknown runtime handler "${handler}" (this node has: ${[...table.keys()].join(', ')})`);
      if (runtime !== 'berth' && !isExecutable(runtime)) throw invalid(field, `runtime handler "${handler}": ${runtime} is not an executable`);
      return runtime;
    },
    names: () => [...table.keys()],
  };
}

