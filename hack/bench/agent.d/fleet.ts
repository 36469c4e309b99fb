/**
 * The agent benchmark's simulated nodes: one process running many berth-agent control loops (src/agent's Agent,
 * each with its own KubeClient, its own watches, Lease candidacy and BerthNode), each over a node side that
 * keeps its handlers in memory and passes every canary. What they cost the API server is what as many real
 * agents would cost it; only the node-local work (drop-ins, canary containers) is left out.
 *
 * Started by hack/bench/agent.d/main.ts with FLEET_KUBECONFIG, FLEET_NODES (comma-separated node names),
 * FLEET_NAMESPACE and FLEET_LOG (a file for the agents' warnings). Prints `{"ready":N}` once every agent has
 * its first lists, then answers each `stats` line on stdin with one JSON line; SIGTERM stops every agent.
 */
import { Logger } from '../../../src/common/log';
import { Agent, KubeClient, type CanaryResult, type ConfigureHandler, type NodeObservation, type NodeSide } from '../../../src/agent';

/** A node whose handlers are entries in a map: configured at once, canaries pass. */
class SimulatedNode implements NodeSide {
  private readonly handlers = new Map<string, { handler: string; generation: number; uid?: string }>();

  async observe(): Promise<NodeObservation> {
    return {
      configured: [...this.handlers.values()],
      facts: {
        stackVersion: 'bench', berthd: { healthy: true, version: 'bench', message: 'simulated' },
        kubeletRuntimeEndpoint: 'unix:///run/berth/berthd.sock', runtime: 'berthd', cgroupDriver: 'cgroupfs',
      },
      conditions: [{ type: 'BerthdHealthy', status: 'True', reason: 'CriReady', message: 'simulated' }],
    };
  }

  async configure(a: ConfigureHandler): Promise<void> {
    this.handlers.set(a.handler, { handler: a.handler, generation: a.generation, uid: a.uid });
  }

  async unconfigure(handler: string): Promise<void> {
    this.handlers.delete(handler);
  }

  async canary(): Promise<CanaryResult> {
    return { passed: true, time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), message: 'simulated node' };
  }
}

const START_BATCH = 25;

async function main(): Promise<void> {
  const kubeconfig = process.env.FLEET_KUBECONFIG;
  const names = (process.env.FLEET_NODES ?? '').split(',').filter(Boolean);
  if (!kubeconfig || names.length === 0) throw new Error('FLEET_KUBECONFIG and FLEET_NODES are required');
  const log = new Logger({ level: 'warn', destination: process.env.FLEET_LOG ?? 2 });
  const namespace = process.env.FLEET_NAMESPACE ?? 'berth-system';
  const clients: KubeClient[] = [];
  const agents: Agent[] = [];
  let passes = 0;
  // Started in batches, as a DaemonSet's pods come up over a while rather than in the same millisecond.
  for (let i = 0; i < names.length; i += START_BATCH) {
    await Promise.all(names.slice(i, i + START_BATCH).map(async (nodeName) => {
      const kube = KubeClient.fromFileOrCluster(kubeconfig);
      const agent = new Agent({
        kube, nodeName, log: log.child({ node: nodeName }), node: new SimulatedNode(),
        lease: { namespace, name: 'berth-agent-leader', identity: `${nodeName}_bench` },
        onPass: () => { passes++; },
      });
      clients.push(kube);
      agents.push(agent);
      await agent.start();
    }));
  }
  process.stdout.write(`${JSON.stringify({ ready: agents.length })}\n`);

  const stats = () => {
    const requests: Record<string, number> = {};
    const perAgent: number[] = [];
    for (const c of clients) {
      let n = 0;
      for (const r of c.requests.values()) {
        const key = `${r.kind.verb} ${r.kind.group || 'core'}/${r.kind.resource}`;
        requests[key] = (requests[key] ?? 0) + r.count;
        n += r.count;
      }
      perAgent.push(n);
    }
    return { agents: agents.length, leaders: agents.filter((a) => a.isLeader).length, passes, requests, perAgent, rssBytes: process.memoryUsage().rss };
  };
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => {
    input += d;
    for (let nl = input.indexOf('\n'); nl >= 0; nl = input.indexOf('\n')) {
      const line = input.slice(0, nl).trim();
      input = input.slice(nl + 1);
      if (line === 'stats') process.stdout.write(`${JSON.stringify(stats())}\n`);
    }
  });
  const stop = () => {
    void Promise.all(agents.map((a) => a.stop())).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 20_000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`fleet: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
