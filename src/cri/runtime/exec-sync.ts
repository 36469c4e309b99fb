/**
 * ExecSync: a command in a running container, its output collected (the kubelet's exec probes). A timeout
 * kills the command and answers DeadlineExceeded, as containerd does, so that the probe counts as failed.
 */
import { BerthError, invalid, precondition } from '../../common/errors';
import type { ExecSyncRequest, ExecSyncResponse } from '../types';
import type { RuntimeContext } from './context';

/** Output beyond this is cut (kubelet reads at most 16 MiB per stream). */
const MAX_OUTPUT = 16 * 1024 * 1024;

export async function execSync(ctx: RuntimeContext, req: ExecSyncRequest): Promise<ExecSyncResponse> {
  const c = ctx.containers.get(req.containerId);
  if (!req.cmd || req.cmd.length === 0) throw invalid('cmd', 'a command is required');
  if (c.state !== 'running') throw precondition(`container ${c.id} is not running (state ${c.state})`);
  const timeoutSec = Number(req.timeout);
  if (!Number.isFinite(timeoutSec) || timeoutSec < 0) throw invalid('timeout', `"${req.timeout}" is not a number of seconds`);
  const shim = await ctx.shim();
  const r = await shim.execSync({ id: c.id, process: { args: req.cmd }, timeoutMs: timeoutSec > 0 ? timeoutSec * 1000 : 0 });
  if (r.timedOut) throw new BerthError('DeadlineExceeded', `command ${JSON.stringify(req.cmd)} timed out after ${timeoutSec}s`);
  return { stdout: r.stdout.subarray(0, MAX_OUTPUT), stderr: r.stderr.subarray(0, MAX_OUTPUT), exitCode: r.exitCode };
}
