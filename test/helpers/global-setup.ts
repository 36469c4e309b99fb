/**
 * jest globalSetup: snapshots the host before any suite runs, for the leak check in global-teardown.ts, and
 * marks the run in the environment so that processes it starts can be recognised later.
 */
import * as fs from 'node:fs';
import { RUN_MARKER_VAR, snapshot, type HostSnapshot } from './leaks';

export const SNAPSHOT_KEY = '__berthHostSnapshot';
export const PEER_DIRS_KEY = '__berthPeerDirsBefore';

/** The directories peers make on the host whatever their state dirs say (hack/cluster.d/host.js lists them). */
export const { HOST_DIRS: PEER_HOST_DIRS, removeEmptyNewDirs } = require('../../hack/cluster.d/host') as {
  HOST_DIRS: string[];
  removeEmptyNewDirs(existedBefore: string[]): void;
};

export default function globalSetup(): void {
  if (process.env.BERTH_LEAK_CHECK === 'off') return;
  process.env[RUN_MARKER_VAR] = `${process.pid}-${Date.now()}`;
  (globalThis as Record<string, unknown>)[PEER_DIRS_KEY] = PEER_HOST_DIRS.filter((d) => fs.existsSync(d));
  (globalThis as Record<string, unknown>)[SNAPSHOT_KEY] = snapshot() satisfies HostSnapshot;
}
