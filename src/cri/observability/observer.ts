/**
 * What the RuntimeService reports as it works, for metrics. An interface of plain calls, so that runtime code
 * and pod networking depend on no metrics library, and tests run them with NO_OBSERVER.
 */
export interface RuntimeObserver {
  /** A RunPodSandbox that succeeded: seconds from its start to the sandbox being ready. */
  podReady(seconds: number): void;
  /** One CNI operation on a network (`plugin`: its plugin types joined with "+"), successful or not. */
  cniOperation(plugin: string, command: string, seconds: number): void;
}

export const NO_OBSERVER: RuntimeObserver = {
  podReady: () => undefined,
  cniOperation: () => undefined,
};

/** Seconds since `start` (a process.hrtime.bigint() reading). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
