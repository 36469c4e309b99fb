/**
 * The agent's HTTP face: /metrics (its own series, then berthd's, fetched from berthd's loopback endpoint, so
 * that one scrape target covers the node), /healthz (the process and its loop are alive) and /readyz (caches
 * synced and the node's CRI healthy). Served with express; the metrics with prom-client on a private registry.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../../common/log';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly passes = new Counter({ name: 'berth_agent_reconcile_total', help: 'Reconcile passes, by loop (node, cluster).', labelNames: ['loop'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'berth_agent_reconcile_errors_total', help: 'Actions of reconcile passes that failed, by loop.', labelNames: ['loop'], registers: [this.registry] });
  readonly duration = new Histogram({ name: 'berth_agent_reconcile_duration_seconds', help: 'Duration of one reconcile pass (observe, decide, act).', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [this.registry] });
  readonly actions = new Counter({ name: 'berth_agent_actions_total', help: 'Actions carried out, by loop.', labelNames: ['loop'], registers: [this.registry] });
  readonly handlerReady = new Gauge({ name: 'berth_handler_ready', help: '1 when the runtime handler is configured and its canary passed on this node.', labelNames: ['handler'], registers: [this.registry] });
  readonly leader = new Gauge({ name: 'berth_agent_leader', help: '1 while this agent holds the Lease and does the cluster-wide work.', registers: [this.registry] });
  readonly apiRequests = new Counter({
    name: 'berth_agent_api_requests_total',
    help: 'API server requests the agent made, by RBAC verb, API group ("" = core) and resource (with subresource); a watch counts when opened.',
    labelNames: ['verb', 'group', 'resource'], registers: [this.registry],
  });

  readonly migration = new Gauge({
    name: 'berth_migration_phase',
    help: "1 for the phase this node's NodeMigration is in (kubectl berth migrate), 0 for the others it went through.",
    labelNames: ['migration', 'phase'], registers: [this.registry],
  });

  constructor(version: string) {
    new Gauge({ name: 'berth_build_info', help: 'Build information; always 1.', labelNames: ['component', 'version', 'node_version'], registers: [this.registry] })
      .set({ component: 'berth-agent', version, node_version: process.version }, 1);
  }

  /** The migration is now in `phase`: its series for the phase before drops to 0. */
  migrationPhase(migration: string, phase: string): void {
    const before = this.phases.get(migration);
    if (before !== undefined) this.migration.set({ migration, phase: before }, 0);
    this.migration.set({ migration, phase }, 1);
    this.phases.set(migration, phase);
  }

  private readonly phases = new Map<string, string>();
}

export interface MetricsServerOptions {
  address: string;
  metrics: AgentMetrics;
  log: Logger;
  /** Where berthd wrote its metrics address (host view for the agent), if any. */
  berthdMetricsAddrFile?: string;
  /** Called before each scrape, to bring gauges up to date. */
  collect(): void;
  live(): boolean;
  ready(): Promise<{ ready: boolean; why: string }>;
}

function berthdMetrics(addrFile: string | undefined): Promise<string> {
  let addr: string;
  try {
    addr = addrFile ? fs.readFileSync(addrFile, 'utf8').trim() : '';
  } catch {
    addr = '';
  }
  if (!addr) return Promise.resolve('');
  return new Promise((resolve) => {
    const req = http.get(`http://${addr}/metrics`, { timeout: 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString('utf8') : ''));
      res.on('error', () => resolve(''));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(''));
  });
}

/** Starts serving; resolves with the server and its bound address. */
export async function serveMetrics(o: MetricsServerOptions): Promise<{ server: http.Server; address: string }> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => {
    o.collect();
    const own = await o.metrics.registry.metrics();
    // berthd's own berth_build_info would repeat ours by name: prom text allows one family per name.
    const theirs = (await berthdMetrics(o.berthdMetricsAddrFile)).split('\n').filter((l) => !/^(# (HELP|TYPE) )?berth_build_info\b/.test(l)).join('\n');
    res.type(o.metrics.registry.contentType).send(theirs.trim() ? `${own}\n${theirs.trim()}\n` : own);
  });
  app.get('/healthz', (_req, res) => {
    if (o.live()) res.type('text/plain').send('ok\n');
    else res.status(500).type('text/plain').send('the reconcile loop is not running\n');
  });
  app.get('/readyz', async (_req, res) => {
    const r = await o.ready();
    res.status(r.ready ? 200 : 503).type('text/plain').send(`${r.why}\n`);
  });
  const m = /^(\[[^\]]+\]|[^:]*):(\d+)$/.exec(o.address);
  if (!m) throw new Error(`--metrics-addr: ${JSON.stringify(o.address)} is not host:port`);
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), m[1].replace(/^\[|\]$/g, '') || '0.0.0.0', () => resolve());
  });
  const a = server.address() as AddressInfo;
  const address = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  o.log.info('serving metrics', { address });
  return { server, address };
}
