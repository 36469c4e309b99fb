/**
 * berthd's health as the kubelet would judge it: CRI Version (it answers, and with which version) and Status
 * (RuntimeReady and NetworkReady), over its unix socket. Never throws: an unreachable berthd is an unhealthy one.
 */
import * as grpc from '@grpc/grpc-js';
import { criServices } from '../../cri';
import { criCall } from './cri-call';

export interface CriCondition {
  readonly type: string;
  readonly status: boolean;
  readonly reason: string;
  readonly message: string;
}

export interface BerthdHealth {
  readonly healthy: boolean;
  /** CRI `runtime_version` ('' when berthd did not answer). */
  readonly version: string;
  readonly runtimeName: string;
  /** Why not healthy, or `berth 0.1.0 is ready`. */
  readonly message: string;
  /** Version answered (the socket has a live CRI server behind it), ready or not. */
  readonly answered: boolean;
  readonly conditions: readonly CriCondition[];
  /** The runtime handlers Status lists (the handlers berthd serves now). */
  readonly handlers: readonly string[];
}

const REQUIRED = ['RuntimeReady', 'NetworkReady'];

/** One probe of the CRI server at `socket` (a path). */
export async function checkBerthd(socket: string, timeoutMs = 5000): Promise<BerthdHealth> {
  const Ctor = grpc.makeClientConstructor(criServices().runtime, 'RuntimeService');
  const client = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure());
  let version = '';
  let runtimeName = '';
  try {
    const v = await criCall<{ runtimeName: string; runtimeVersion: string }>(client, 'Version', {}, timeoutMs);
    version = v.runtimeVersion;
    runtimeName = v.runtimeName;
    const s = await criCall<{ status?: { conditions?: CriCondition[] }; runtimeHandlers?: Array<{ name?: string }> }>(client, 'Status', {}, timeoutMs);
    const handlers = (s.runtimeHandlers ?? []).map((h) => h.name ?? '').filter((n) => n !== '');
    const conditions = (s.status?.conditions ?? []).map((c) => ({ type: c.type, status: !!c.status, reason: c.reason ?? '', message: c.message ?? '' }));
    const failing = REQUIRED.map((t) => ({ t, c: conditions.find((x) => x.type === t) })).filter(({ c }) => !c?.status);
    const message = failing.length
      ? failing.map(({ t, c }) => `${t} is ${c ? 'false' : 'missing'}${c?.reason ? ` (${c.reason}${c.message ? `: ${c.message}` : ''})` : ''}`).join('; ')
      : `${runtimeName} ${version} is ready`;
    return { healthy: failing.length === 0, version, runtimeName, message, answered: true, conditions, handlers };
  } catch (err) {
    return { healthy: false, version, runtimeName, message: `CRI at ${socket}: ${(err as Error).message}`, answered: version !== '', conditions: [], handlers: [] };
  } finally {
    client.close();
  }
}

/** Probes until healthy or `timeoutMs` passed; returns the last probe. */
export async function waitHealthy(socket: string, timeoutMs: number, intervalMs = 250): Promise<BerthdHealth> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await checkBerthd(socket, Math.max(500, Math.min(5000, deadline - Date.now())));
    if (h.healthy || Date.now() >= deadline) return h;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
