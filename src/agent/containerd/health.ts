/**
 * containerd's health after a config change, over its CRI socket: Status says RuntimeReady (NetworkReady is
 * not ours to judge: a node without CNI yet is still a working runtime), and the CRI config it reports
 * (verbose Status, `info.config`, what `crictl info` prints) has every expected handler under
 * `containerd.runtimes` and none of the removed ones — so a drop-in containerd ignored counts as a failure,
 * not as success.
 */
import * as grpc from '@grpc/grpc-js';
import { criServices } from '../../cri';
import type { HandlerExpectation, HealthReport } from './apply';

interface StatusReply {
  status?: { conditions?: Array<{ type: string; status: boolean; reason?: string; message?: string }> };
  info?: Record<string, string>;
}

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: StatusReply) => void) => void;

/** The handler names under `containerd.runtimes` of the CRI config in a verbose Status reply; undefined when absent. */
export function runtimesOf(info: Record<string, string> | undefined): string[] | undefined {
  const raw = info?.config;
  if (!raw) return undefined;
  try {
    const config = JSON.parse(raw) as { containerd?: { runtimes?: Record<string, unknown> } };
    const runtimes = config.containerd?.runtimes;
    return runtimes ? Object.keys(runtimes).sort() : undefined;
  } catch {
    return undefined;
  }
}

/** Judges one verbose Status reply against what should be configured. */
export function judgeStatus(reply: StatusReply, expect: HandlerExpectation): HealthReport {
  const ready = reply.status?.conditions?.find((c) => c.type === 'RuntimeReady');
  if (!ready?.status) {
    return { ok: false, message: `RuntimeReady is ${ready ? 'false' : 'missing'}${ready?.reason ? ` (${ready.reason}${ready.message ? `: ${ready.message}` : ''})` : ''}` };
  }
  const runtimes = runtimesOf(reply.info);
  if (!runtimes) return { ok: false, message: 'the CRI Status reply has no config with containerd.runtimes (is this containerd?)' };
  const missing = expect.present.filter((h) => !runtimes.includes(h));
  const stale = expect.absent.filter((h) => runtimes.includes(h));
  if (missing.length || stale.length) {
    return { ok: false, message: [missing.length ? `not loaded: ${missing.join(', ')}` : '', stale.length ? `still configured: ${stale.join(', ')}` : ''].filter(Boolean).join('; ') + ` (runtimes: ${runtimes.join(', ')})` };
  }
  return { ok: true, message: `RuntimeReady; runtimes: ${runtimes.join(', ')}` };
}

/** A `healthy` for applyHandlers(): one verbose CRI Status over `socket` (a path) per call. Never throws. */
export function criHealth(socket: string, timeoutMs = 5000): (expect: HandlerExpectation) => Promise<HealthReport> {
  return async (expect) => {
    const Ctor = grpc.makeClientConstructor(criServices().runtime, 'RuntimeService');
    const client = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure());
    try {
      const status = (client as unknown as Record<string, Unary>).Status;
      const reply = await new Promise<StatusReply>((resolve, reject) => {
        status.call(client, { verbose: true }, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
      });
      return judgeStatus(reply, expect);
    } catch (err) {
      return { ok: false, message: `CRI at ${socket}: ${(err as Error).message}` };
    } finally {
      client.close();
    }
  };
}
