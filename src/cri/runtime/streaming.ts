/**
 * Exec, Attach and PortForward: each checks what it names, then answers with a one-time URL on berthd's
 * streaming server (src/cri/streaming), where the kubelet's proxy (or the API server through it) connects.
 */
import { invalid, precondition } from '../../common/errors';
import type { AttachRequest, AttachResponse, ExecRequest, ExecResponse, PortForwardRequest, PortForwardResponse } from '../types';
import type { RuntimeContext } from './context';

function runningContainer(ctx: RuntimeContext, id: string, field: string) {
  if (!id) throw invalid(field, 'is required');
  const c = ctx.containers.get(id);
  if (c.state !== 'running') throw precondition(`container ${c.id} is not running (state ${c.state})`);
  return c;
}

export function exec(ctx: RuntimeContext, req: ExecRequest): ExecResponse {
  const c = runningContainer(ctx, req.containerId, 'container_id');
  return { url: ctx.streaming.urlFor('exec', { containerId: c.id, cmd: req.cmd, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }) };
}

export function attach(ctx: RuntimeContext, req: AttachRequest): AttachResponse {
  const c = runningContainer(ctx, req.containerId, 'container_id');
  return { url: ctx.streaming.urlFor('attach', { containerId: c.id, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }) };
}

export function portForward(ctx: RuntimeContext, req: PortForwardRequest): PortForwardResponse {
  if (!req.podSandboxId) throw invalid('pod_sandbox_id', 'is required');
  const s = ctx.sandboxes.get(req.podSandboxId);
  if (s.state !== 'ready') throw precondition(`pod sandbox ${s.id} is not ready`);
  for (const [i, p] of (req.port ?? []).entries()) if (p < 1 || p > 65535) throw invalid(`port[${i}]`, `${p} is not a port`);
  return { url: ctx.streaming.urlFor('portforward', { podSandboxId: s.id, ports: req.port ?? [] }) };
}
