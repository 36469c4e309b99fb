/**
 * kubectl-berth, the kubectl plugin (`kubectl berth …`: kubectl runs any `kubectl-berth` on PATH): the user's
 * kubeconfig and context as kubectl has them, kubectl-style output. The plugin only creates, patches, reads and
 * deletes NodeMigration objects; the berth-agent on each node does the work. This file only dispatches.
 */
import { flagHelp } from '../common/args';
import { asBerthError, exitCodeOf } from '../common/errors';
import { KubeClient } from '../agent';
import { kubeApi } from './api';
import { runDoctor } from './doctor';
import { FLAGS, parseCommand, type Command } from './flags';
import { runMigrate } from './migrate';
import { runPool } from './pool-run';
import { ProgressDisplay } from './progress';
import { renderReport } from './report';
import { runRollback } from './rollback';
import { status } from './status-command';
import { Interrupted } from './wait';

declare const __BERTH_VERSION__: string | undefined;
const VERSION = typeof __BERTH_VERSION__ === 'string' ? __BERTH_VERSION__ : '0.0.0-dev';

const USAGE = `kubectl berth — Berth's kubectl plugin.

usage: kubectl berth status [NODE] [-o FORMAT]
         per node: kubelet's runtime, the Berth stack and berthd, the runtime handlers, the node's migration
       kubectl berth doctor NODE [--timeout D] [-o FORMAT]
         the migration's preflight on NODE, run by its berth-agent (nothing changes); exits 0 when nothing
         blocks a migration, 1 when something does (or on an error)
       kubectl berth migrate NODE [--dry-run] [--drain-timeout D] [--grace-period D] [--delete-emptydir-data]
                                  [--verify-timeout D] [--stop-old-runtime] [--force] [--pre-pull]
                                  [--rollback-policy automatic|manual] [--watch]
         creates NodeMigration NODE: NODE's berth-agent moves its kubelet onto berthd; --watch follows it and
         exits 0 when it Completed, 1 when it ended RolledBack or Failed; --dry-run is doctor
       kubectl berth migrate --selector SEL [--max-unavailable N] [the flags above but --dry-run]
         every node matching SEL, N at a time (default 1), in name order; nodes on berth:// already are
         skipped; stops starting more after a failure; waits for all, exits 0 only if all Completed
       kubectl berth rollback NODE [--watch]
         asks NODE's agent to undo its migration; --watch exits 0 when it RolledBack, 1 otherwise

D is a duration: 90 (seconds), 300s, 5m, 1h30m. Ctrl-C stops waiting (exit 130): a migration goes on, a
doctor's dry run is deleted.

OPTIONS:
${flagHelp(FLAGS)}
`;

async function run(cmd: Command, signal: AbortSignal): Promise<number> {
  if (cmd.kind === 'help' || cmd.kind === 'usage') {
    process.stdout.write(USAGE);
    return cmd.kind === 'usage' ? 2 : 0;
  }
  if (cmd.kind === 'version') {
    process.stdout.write(`kubectl-berth version ${VERSION}\n`);
    return 0;
  }
  const kube = KubeClient.fromFileOrCluster(cmd.kubeconfig, cmd.context);
  const api = kubeApi(kube);
  const out = process.stdout;
  const display = new ProgressDisplay(out);
  switch (cmd.kind) {
    case 'status':
      out.write(await status(kube, cmd.node, cmd.output));
      return 0;
    case 'doctor': {
      const report = await runDoctor(api, cmd.node, { timeoutSeconds: cmd.timeoutSeconds, settings: cmd.settings, signal });
      out.write(renderReport(report, cmd.output));
      return report.wouldProceed ? 0 : 1;
    }
    case 'migrate':
      return runMigrate(api, cmd.node, { settings: cmd.settings, watch: cmd.watch, display, out, signal });
    case 'pool':
      return runPool(api, cmd.selector, { maxUnavailable: cmd.maxUnavailable, settings: cmd.settings, display, out, signal });
    case 'rollback':
      return runRollback(api, cmd.node, { watch: cmd.watch, display, out, signal });
  }
}

export async function pluginMain(argv: readonly string[]): Promise<number> {
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  try {
    return await run(parseCommand(argv), interrupt.signal);
  } catch (err) {
    if (err instanceof Interrupted) {
      process.stderr.write('kubectl-berth: interrupted\n');
      return 130;
    }
    const e = asBerthError(err);
    process.stderr.write(`kubectl-berth: ${e.message}\n`);
    return exitCodeOf(e.kind);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
