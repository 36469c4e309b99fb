/**
 * jest globalSetup: snapshots the host before any suite runs, for the leak check in global-teardown.ts, and
 * marks the run in the environment so that processes it starts can be recognised later.
 */
import { RUN_MARKER_VAR, snapshot, type HostSnapshot } from './leaks';

export const SNAPSHOT_KEY = '__berthHostSnapshot';

export default function globalSetup(): void {
  if (process.env.BERTH_LEAK_CHECK === 'off') return;
  process.env[RUN_MARKER_VAR] = `${process.pid}-${Date.now()}`;
  (globalThis as Record<string, unknown>)[SNAPSHOT_KEY] = snapshot() satisfies HostSnapshot;
}
