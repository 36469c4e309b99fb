/**
 * A switch of kubelet's runtime, either way, hands the node's pods to the other runtime: kubelet, restarted
 * there, starts every pod bound to the node again (DaemonSet and static pods, which the drain leaves), so what
 * the runtime it leaves ran for them is stopped and removed first (over CRI, as kubelet would), or it would
 * keep running unseen beside its replacement.
 */
import * as grpc from '@grpc/grpc-js';
import { criServices } from '../../cri';
import { criCall } from '../service/cri-call';

const TIMEOUT_MS = 60_000;

/** Stops and removes every pod sandbox the CRI runtime at `socket` has; returns how many. */
export async function removePods(socket: string): Promise<number> {
  const client = new (grpc.makeClientConstructor(criServices().runtime, 'RuntimeService'))(`unix://${socket}`, grpc.credentials.createInsecure());
  try {
    const listed = await criCall<{ items?: Array<{ id: string }> }>(client, 'ListPodSandbox', {}, TIMEOUT_MS);
    const ids = (listed.items ?? []).map((s) => s.id);
    for (const podSandboxId of ids) {
      await criCall(client, 'StopPodSandbox', { podSandboxId }, TIMEOUT_MS);
      await criCall(client, 'RemovePodSandbox', { podSandboxId }, TIMEOUT_MS);
    }
    return ids.length;
  } finally {
    client.close();
  }
}
