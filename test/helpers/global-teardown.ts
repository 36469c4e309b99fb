/**
 * jest globalTeardown: the leak check. Compares the host with the snapshot global-setup.ts took and fails the
 * run (an error thrown here makes jest exit non-zero) when the suites left anything behind; the list goes to
 * stderr. Things that settle shortly after the last suite (a process being reaped) get a moment first.
 *
 * BERTH_LEAK_CHECK=warn prints the list without failing (for development on a busy shared machine);
 * BERTH_LEAK_CHECK=off skips the check. BERTH_LEAK_RESULT=FILE (set by hack/test) writes the count there instead
 * of throwing: jest writes its results file only when the teardown succeeds, and hack/test's closing line
 * needs both (it counts the leak check as one failed test).
 */
import * as fs from 'node:fs';
import { compare, countLeftovers, formatReport, pruneJournals, RUN_MARKER_VAR, snapshot, type HostSnapshot, type Leftovers } from './leaks';
import { PEER_DIRS_KEY, removeEmptyNewDirs, SNAPSHOT_KEY } from './global-setup';

const SETTLE_MS = 2500;

export default async function globalTeardown(): Promise<void> {
  const before = (globalThis as Record<string, unknown>)[SNAPSHOT_KEY] as HostSnapshot | undefined;
  if (process.env.BERTH_LEAK_CHECK === 'off' || !before) return;
  // Shims and dockerd make these whatever their state dirs say, and concurrent suites share them: only once all
  // suites are done can the empty ones a run made go.
  removeEmptyNewDirs(((globalThis as Record<string, unknown>)[PEER_DIRS_KEY] as string[] | undefined) ?? []);
  const marker = process.env[RUN_MARKER_VAR] ?? '';
  const deadline = Date.now() + SETTLE_MS;
  let left: Leftovers = compare(before, snapshot(), process.pid, marker);
  while (countLeftovers(left) > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    left = compare(before, snapshot(), process.pid, marker);
  }
  pruneJournals(marker);
  const n = countLeftovers(left);
  process.stderr.write(`\n${formatReport(left)}\n\n`);
  const resultFile = process.env.BERTH_LEAK_RESULT;
  if (resultFile) fs.writeFileSync(resultFile, `${process.env.BERTH_LEAK_CHECK === 'warn' ? 0 : n}\n`);
  else if (n > 0 && process.env.BERTH_LEAK_CHECK !== 'warn') {
    throw new Error(`berth leak check failed: ${n} leftover${n === 1 ? '' : 's'} from the test run (listed above)`);
  }
}
