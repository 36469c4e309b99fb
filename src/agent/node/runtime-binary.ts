/**
 * The binary behind a RuntimeHandler on this node: berth-run from the installed stack, runc or crun where the
 * node has them (or at `path`), or the runc-compatible binary at `path`. A binary that is not there is a
 * NotFound naming `spec.runtime.path`, so the node reports the handler Failed instead of advertising it.
 */
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import { isExecutable } from '../../common/files';
import type { RuntimeHandlerRuntime } from '../api/types';
import type { HostExec } from './host-exec';

/** Where runc and crun are looked for, in the order of a root shell's PATH. */
const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The binary's path on the host. `stackBin` is the host path of the installed stack's bin/. */
export function runtimeBinary(runtime: RuntimeHandlerRuntime, host: HostExec, stackBin: string): string {
  if (runtime.type === 'berth') return checked(path.join(stackBin, 'berth-run'), host, 'spec.runtime.type');
  if (runtime.path !== undefined) return checked(runtime.path, host, 'spec.runtime.path');
  if (runtime.type === 'binary') throw new BerthError('InvalidArgument', 'is required for a binary runtime', { field: 'spec.runtime.path' });
  const found = SEARCH.map((d) => path.join(d, runtime.type)).find((p) => isExecutable(host.inAgent(p)));
  if (!found) throw new BerthError('NotFound', `${runtime.type} is not installed on this node (looked in ${SEARCH.join(', ')})`, { field: 'spec.runtime.type' });
  return found;
}

function checked(p: string, host: HostExec, field: string): string {
  if (!isExecutable(host.inAgent(p))) throw new BerthError('NotFound', `${p} is not an executable on this node`, { field });
  return p;
}
