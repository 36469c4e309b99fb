/** berth-agent's command line and life cycle: flags → kube client → node side → control loop + metrics → signal. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { flagBool, flagHelp, flagString, parseArgs, type FlagSpec } from '../common/args';
import { asBerthError, exitCodeOf, invalid } from '../common/errors';
import { Logger, type LogLevel } from '../common/log';
import { Agent } from './agent';
import { KubeClient } from './kube/client';
import { AgentMetrics, serveMetrics } from './metrics/server';
import { hostExec } from './node/host-exec';
import { CNI_MODES, type CniMode } from './install/cni';
import { hostView, layoutOf } from './install/layout';
import { prepareNode } from './install/prepare';
import { uninstallNode } from './install/uninstall';
import { kubeletFacts } from './node/kubelet';
import { unitJobsFor } from './node/host-units';
import { ReselectingNodeSide } from './node/reselecting';
import { nodeSideFor } from './node/select';
import { MigrationLoop } from './migration/loop';
import { DirectService } from './service/direct';
import { checkBerthd } from './service/health';
import { SystemdService } from './service/systemd';

declare const __BERTH_VERSION__: string;
const VERSION = typeof __BERTH_VERSION__ === 'string' ? __BERTH_VERSION__ : '0.0.0-dev';

const FLAGS: FlagSpec[] = [
  { name: 'kubeconfig', kind: 'string', arg: 'FILE', help: 'kubeconfig (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster ServiceAccount)' },
  { name: 'node-name', kind: 'string', arg: 'NAME', help: 'this node (default $NODE_NAME, then the host name)' },
  { name: 'host-root', kind: 'string', arg: 'DIR', help: "where the agent sees the host's / (default /host)" },
  { name: 'service-manager', kind: 'string', arg: 'KIND', help: 'systemd (host units over D-Bus, the default) or direct (host processes the agent runs; for tests)' },
  { name: 'metrics-addr', kind: 'string', arg: 'HOST:PORT', help: '/metrics, /healthz, /readyz (default :9810)' },
  { name: 'namespace', kind: 'string', arg: 'NS', help: "the Lease's namespace (default $POD_NAMESPACE, then berth-system)" },
  { name: 'lease-name', kind: 'string', arg: 'NAME', help: 'the Lease electing the agent that does the cluster-wide work (default berth-agent-leader)' },
  { name: 'stack-source', kind: 'string', arg: 'DIR', help: "the stack to install (bin/, lib/; default: the agent's own bundle)" },
  { name: 'cni', kind: 'string', arg: 'MODE', help: "Berth's CNI network: auto (only where the node has none; default), always or never" },
  { name: 'log-level', kind: 'string', arg: 'LEVEL', help: 'debug, info (default), warn or error' },
  { name: 'version', short: 'v', kind: 'bool', help: 'print the version and exit' },
  { name: 'help', short: 'h', kind: 'bool', help: 'show this help' },
];

const USAGE = `berth-agent — Berth's node agent: keeps the runtime stack on its node, turns RuntimeHandler objects
(berth.dev/v1alpha1) into CRI runtime handlers, node labels and RuntimeClasses, reports its node in a
BerthNode, and serves Prometheus metrics.

usage: berth-agent [run] [OPTIONS]     install the stack, then keep the node and its handlers reconciled
       berth-agent install [OPTIONS]   install the stack and start berthd once, then exit
       berth-agent uninstall [OPTIONS] stop berthd and remove what the agent added to the node

OPTIONS:
${flagHelp(FLAGS)}

Logs are JSON lines on stderr. SIGTERM or SIGINT: stop the loop, give up the Lease, exit 0; the node's
daemons and containers keep running. uninstall refuses a node whose kubelet runs on berthd.
`;

const LEVELS: readonly string[] = ['debug', 'info', 'warn', 'error'];
const COMMANDS: readonly string[] = ['run', 'install', 'uninstall'];

export async function agentMain(argv: readonly string[]): Promise<number> {
  let log: Logger;
  let agent: Agent;
  let migrations: MigrationLoop;
  let stopServer: () => void;
  try {
    const args = parseArgs(argv, FLAGS);
    if (flagBool(args, 'help')) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (flagBool(args, 'version')) {
      process.stdout.write(`berth-agent version ${VERSION}\n`);
      return 0;
    }
    const command = args.positional[0] ?? 'run';
    if (!COMMANDS.includes(command)) throw invalid(command, `unknown command (${COMMANDS.join(', ')}; see --help)`);
    if (args.positional.length > 1) throw invalid(args.positional[1], 'unexpected argument (see --help)');
    const level = flagString(args, 'log-level') ?? 'info';
    if (!LEVELS.includes(level)) throw invalid('--log-level', `must be one of ${LEVELS.join(', ')}`);
    const manager = flagString(args, 'service-manager') ?? 'systemd';
    if (manager !== 'systemd' && manager !== 'direct') throw invalid('--service-manager', `must be systemd or direct, got ${JSON.stringify(manager)}`);
    const cniMode = flagString(args, 'cni') ?? 'auto';
    if (!(CNI_MODES as readonly string[]).includes(cniMode)) throw invalid('--cni', `must be one of ${CNI_MODES.join(', ')}, got ${JSON.stringify(cniMode)}`);
    const nodeName = flagString(args, 'node-name') ?? process.env.NODE_NAME ?? os.hostname();
    const hostRoot = path.resolve(flagString(args, 'host-root') ?? '/host');
    if (!fs.existsSync(hostRoot)) throw invalid('--host-root', `${hostRoot} does not exist`);
    log = new Logger({ level: level as LogLevel, fields: { component: 'berth-agent', node: nodeName } });
    // direct: the "host" is a directory of this machine, its daemons run beside the agent; systemd: the
    // agent is in a pod and reaches the host's programs through PID 1's mount namespace.
    const host = hostExec(hostRoot, manager === 'direct' ? 'same-namespace' : 'nsenter');
    const layout = layoutOf(hostView(hostRoot, manager));
    const service = manager === 'direct' ? new DirectService({ layout, version: VERSION, log }) : new SystemdService({ layout, log });
    const sideOptions = {
      host, stackVersion: VERSION, stackBin: '/opt/berth/current/bin',
      // The canary's program comes with the agent itself (bundled beside it).
      canaryProgram: path.join(__dirname, 'berth-canary'),
      workDir: '/run/berth-agent',
      serviceManager: manager,
    } as const;
    const selectNodeSide = () => nodeSideFor(sideOptions);
    if (command === 'uninstall') {
      const selected = selectNodeSide();
      try {
        await uninstallNode({ layout, service, kubeletEndpoint: kubeletFacts(host).runtimeEndpoint, removeCriHandlers: () => selected.removeHandlers(), log });
      } finally {
        selected.side.close();
      }
      return 0;
    }
    const prepare = () => prepareNode({
      layout, version: VERSION, service, log, cni: { mode: cniMode as CniMode },
      // The bundle runs from <stack>/bin (the launcher hands it its own directory).
      sourceDir: path.resolve(flagString(args, 'stack-source') ?? path.join(__dirname, '..')),
    });
    if (command === 'install') {
      const r = await prepare();
      service.close();
      process.stdout.write(`${r.outcome}: stack ${r.current}; ${r.message}\n`);
      return r.healthy ? 0 : 1;
    }
    try {
      const r = await prepare();
      (r.healthy ? log.info : log.warn).call(log, 'node prepared', { outcome: r.outcome, current: r.current, message: r.message });
    } catch (err) {
      // The loop still runs: the BerthNode and readiness report what is wrong, and the next start tries again.
      log.error('cannot prepare the node', { error: (err as Error).message });
    }

    const kube = KubeClient.fromFileOrCluster(flagString(args, 'kubeconfig'));
    const node = new ReselectingNodeSide(sideOptions, (runtime) => log.info("kubelet's runtime changed: handlers follow it", { runtime }));
    const metrics = new AgentMetrics(VERSION);
    kube.onRequest = (kind, first) => {
      metrics.apiRequests.inc({ ...kind });
      // One line per kind of request, so the RBAC it needs can be read from the log (the e2e compares it with the chart).
      if (first) log.debug('first API request of its kind', { verb: kind.verb, group: kind.group, resource: kind.resource });
    };
    const identity = `${nodeName}_${process.pid}`;
    agent = new Agent({
      kube, nodeName, log, node,
      lease: { namespace: flagString(args, 'namespace') ?? process.env.POD_NAMESPACE ?? 'berth-system', name: flagString(args, 'lease-name') ?? 'berth-agent-leader', identity },
      onPass: (r) => {
        metrics.passes.inc({ loop: 'node' });
        if (r.leader) metrics.passes.inc({ loop: 'cluster' });
        metrics.actions.inc({ loop: 'node' }, r.nodeActions);
        metrics.actions.inc({ loop: 'cluster' }, r.clusterActions);
        metrics.errors.inc({ loop: 'node' }, r.nodeFailures);
        if (r.leader) metrics.errors.inc({ loop: 'cluster' }, r.clusterFailures);
        metrics.duration.observe(r.durationSeconds);
      },
    });
    const { server } = await serveMetrics({
      address: flagString(args, 'metrics-addr') ?? ':9810', metrics, log,
      berthdMetricsAddrFile: host.inAgent('/run/berth/metrics.addr'),
      collect: () => {
        metrics.leader.set(agent.isLeader ? 1 : 0);
        // Handlers that went away drop out of the gauge instead of staying at their last value.
        metrics.handlerReady.reset();
        for (const h of agent.handlerStates()) metrics.handlerReady.set({ handler: h.handler }, h.phase === 'Ready' ? 1 : 0);
      },
      live: () => agent.live(),
      ready: async () => {
        if (!agent.ready) return { ready: false, why: 'caches not synced yet' };
        const cri = await checkBerthd(node.socket, 2000);
        return cri.healthy ? { ready: true, why: `caches synced; ${cri.message}` } : { ready: false, why: cri.message };
      },
    });
    stopServer = () => {
      server.close();
      service.close();
    };
    migrations = new MigrationLoop({
      kube, nodeName, log, host, layout, service, units: unitJobsFor(manager, host),
      // The DaemonSet shares the host's PID namespace; direct agents share this machine's.
      procRoot: '/proc',
    }, { onPhase: (m, phase) => metrics.migrationPhase(m.metadata.name, phase) });
    await Promise.all([agent.start(), migrations.start()]);
    log.info('berth-agent started', { version: VERSION, hostRoot, serviceManager: manager, runtime: node.runtime, criSocket: node.socket });
  } catch (err) {
    const e = asBerthError(err);
    process.stderr.write(`berth-agent: ${e.message}\n`);
    return exitCodeOf(e.kind);
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info('stopping', { signal });
      Promise.all([agent.stop(), migrations.stop()]).then(() => {
        stopServer();
        resolve(0);
      }, () => resolve(1));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
