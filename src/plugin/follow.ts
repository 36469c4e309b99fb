/** Following migrations until each is done (--watch), showing their progress. */
import type { NodeMigration } from '../agent';
import { notFound } from '../common/errors';
import type { PluginApi } from './api';
import { isTerminal, phaseOf } from './phases';
import type { ProgressDisplay } from './progress';
import { POLL_MS, sleep } from './wait';

/** Polls `name` until `done` holds (default: a terminal phase); resolves with the last object read. */
export async function follow(api: PluginApi, name: string, display: ProgressDisplay, signal?: AbortSignal, pollMs = POLL_MS,
  done: (m: NodeMigration) => boolean = (m) => isTerminal(phaseOf(m))): Promise<NodeMigration> {
  for (;;) {
    const m = await api.getMigration(name);
    if (!m) throw notFound(`nodemigration ${name} was deleted while being watched`);
    display.update([{ node: m.spec.node, migration: m }]);
    if (done(m)) return m;
    await sleep(pollMs, signal);
  }
}
