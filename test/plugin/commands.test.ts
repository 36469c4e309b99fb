/**
 * doctor, migrate, rollback and the pool (src/plugin/*.ts) against an in-memory API with a scripted agent:
 * what each creates, patches and deletes, its output and exit code, and its refusals.
 */
import { describe, expect, test } from '@jest/globals';
import type { Finding, MigrationPhase, NodeMigration } from '../../src/agent/api/migration-types';
import { parseNodeMigration } from '../../src/agent/api/validate-migration';
import type { NodeInfo, PluginApi } from '../../src/plugin/api';
import { runDoctor } from '../../src/plugin/doctor';
import { parseCommand, type MigrationSettings } from '../../src/plugin/flags';
import { runMigrate } from '../../src/plugin/migrate';
import { runPool } from '../../src/plugin/pool-run';
import { ProgressDisplay } from '../../src/plugin/progress';
import { runRollback } from '../../src/plugin/rollback';
import { BerthError } from '../../src/common/errors';

const settings = (argv: string[] = []): MigrationSettings => {
  const c = parseCommand(['migrate', 'x', ...argv]);
  if (c.kind !== 'migrate') throw new Error(c.kind);
  return c.settings;
};

/** The API, holding objects as the server would; `agent` moves each migration on at every read. */
class FakeApi implements PluginApi {
  readonly objects = new Map<string, Record<string, unknown>>();
  readonly log: string[] = [];
  maxInProgress = 0;
  constructor(readonly nodes: NodeInfo[], readonly agent: (name: string, o: Record<string, unknown>) => void = () => undefined) {}

  private parsed(name: string): NodeMigration | undefined {
    const o = this.objects.get(name);
    return o ? parseNodeMigration(o) : undefined;
  }

  async getNode(name: string) { return this.nodes.find((n) => n.name === name); }
  async listNodes() { return [...this.nodes]; }
  async getMigration(name: string) {
    const o = this.objects.get(name);
    if (o) this.agent(name, o);
    return this.parsed(name);
  }
  async createMigration(name: string, node: string, s: MigrationSettings) {
    if (this.objects.has(name)) throw new BerthError('AlreadyExists', `${name} exists`);
    this.log.push(`create ${name}`);
    this.objects.set(name, { apiVersion: 'berth.dev/v1alpha1', kind: 'NodeMigration', metadata: { name, creationTimestamp: new Date().toISOString() }, spec: { node, ...s } });
    const inProgress = [...this.objects.keys()].filter((n) => !['Completed', 'Failed', 'RolledBack'].includes(this.parsed(n)?.status?.phase ?? '')).length;
    this.maxInProgress = Math.max(this.maxInProgress, inProgress);
    return this.parsed(name)!;
  }
  async requestRollback(name: string) {
    const o = this.objects.get(name)!;
    this.log.push(`rollback ${name}`);
    (o.spec as Record<string, unknown>).rollback = true;
    return this.parsed(name)!;
  }
  async deleteMigration(name: string) {
    this.log.push(`delete ${name}`);
    this.objects.delete(name);
  }
}

/** Sets the status as the agent would: phase and one more step. */
function advance(o: Record<string, unknown>, phase: MigrationPhase, message = phase.toLowerCase(), extra: Record<string, unknown> = {}): void {
  const st = (o.status ?? { steps: [] }) as { steps: unknown[] };
  o.status = { ...st, ...extra, phase, steps: [...st.steps, { phase, time: new Date().toISOString(), message }] };
}
const terminal = (o: Record<string, unknown>) => ['Completed', 'Failed', 'RolledBack'].includes((o.status as { phase?: string } | undefined)?.phase ?? '');

function outSink() {
  const writes: string[] = [];
  return { out: { isTTY: false, write: (s: string) => writes.push(s) }, text: () => writes.join('') };
}

const NODES: NodeInfo[] = [{ name: 'n1', runtime: 'containerd://2.1.0' }, { name: 'n2', runtime: 'containerd://2.1.0' }, { name: 'n3', runtime: 'berth://0.1.0' }, { name: 'n4', runtime: 'docker://25.0.0' }];
const blocking: Finding = { check: 'DockerSocketMount', severity: 'Blocking', message: 'pod ci/b mounts /var/run/docker.sock', objects: [{ kind: 'Pod', namespace: 'ci', name: 'b' }] };

describe('doctor', () => {
  test('a dry-run migration of its own, its findings, then deleted', async () => {
    const api = new FakeApi(NODES, (_n, o) => {
      if (!o.status) advance(o, 'Preflight');
      else if (!terminal(o)) advance(o, 'Completed', 'dry run', { findings: [blocking] });
    });
    const r = await runDoctor(api, 'n1', { timeoutSeconds: 5, settings: settings(), suffix: 'abcde', pollMs: 1 });
    expect(r).toEqual({ node: 'n1', findings: [blocking], blocking: 1, wouldProceed: false });
    expect(api.log).toEqual(['create n1-doctor-abcde', 'delete n1-doctor-abcde']);
  });

  test('no agent answering: the error says so, and the object is deleted anyway; a missing node is named', async () => {
    const api = new FakeApi(NODES);
    await expect(runDoctor(api, 'n1', { timeoutSeconds: 1, settings: settings(), pollMs: 50 })).rejects.toThrow('no berth-agent answered for node n1 within 1 s: is berth-agent running there?');
    expect(api.objects.size).toBe(0);
    await expect(runDoctor(api, 'nx', { timeoutSeconds: 1, settings: settings() })).rejects.toThrow('node "nx" not found');
  });

  test('an interrupt deletes the object too', async () => {
    const api = new FakeApi(NODES);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await expect(runDoctor(api, 'n1', { timeoutSeconds: 60, settings: settings(), signal: ac.signal, pollMs: 5 })).rejects.toThrow('interrupted');
    expect(api.objects.size).toBe(0);
  });
});

describe('migrate', () => {
  test('creates NodeMigration NODE with the flags\' spec; without --watch returns at once', async () => {
    const api = new FakeApi(NODES);
    const { out, text } = outSink();
    expect(await runMigrate(api, 'n1', { settings: settings(['--pre-pull', '--drain-timeout', '10m']), watch: false, display: new ProgressDisplay(out), out })).toBe(0);
    expect(text()).toBe('nodemigration.berth.dev/n1 created\n');
    expect(api.objects.get('n1')!.spec).toMatchObject({ node: 'n1', prePullImages: true, drain: { timeoutSeconds: 600 }, dryRun: false });
  });

  test('--watch: one line per step, exit 0 on Completed, 1 with the last message on RolledBack', async () => {
    const script: MigrationPhase[] = ['Pending', 'Preflight', 'Cordoned', 'Drained', 'Switching', 'Verifying', 'Completed'];
    const api = new FakeApi(NODES, (_n, o) => { if (!terminal(o)) advance(o, script[((o.status as { steps: unknown[] } | undefined)?.steps.length ?? 0)]); });
    const { out, text } = outSink();
    expect(await runMigrate(api, 'n1', { settings: settings(), watch: true, display: new ProgressDisplay(out), out, pollMs: 1 })).toBe(0);
    expect(text().split('\n').slice(0, 3)).toEqual(['nodemigration.berth.dev/n1 created', 'n1  Pending  pending', 'n1  Preflight  preflight']);
    expect(text()).toContain('n1  Completed  completed\n');

    const failing = new FakeApi(NODES, (_n, o) => { if (!o.status) advance(o, 'RollingBack'); else if (!terminal(o)) advance(o, 'RolledBack', 'kubelet did not come back; restored'); });
    const f = outSink();
    expect(await runMigrate(failing, 'n2', { settings: settings(), watch: true, display: new ProgressDisplay(f.out), out: f.out, pollMs: 1 })).toBe(1);
    expect(f.text()).toContain('nodemigration.berth.dev/n2 ended RolledBack: kubelet did not come back; restored\n');
  });

  test('an existing one: finished → the phase and the fix; in progress → said so, or watched with --watch', async () => {
    const api = new FakeApi(NODES);
    const { out, text } = outSink();
    const o = { settings: settings(), watch: false, display: new ProgressDisplay(out), out, pollMs: 1 };
    await runMigrate(api, 'n1', o);
    advance(api.objects.get('n1')!, 'Completed');
    await expect(runMigrate(api, 'n1', o)).rejects.toThrow('nodemigration.berth.dev/n1 already exists and ended Completed: to migrate again, kubectl delete nodemigration n1 and retry; to undo it, kubectl berth rollback n1');
    await runMigrate(api, 'n2', o);
    advance(api.objects.get('n2')!, 'Drained');
    await expect(runMigrate(api, 'n2', o)).rejects.toMatchObject({ kind: 'AlreadyExists', message: expect.stringContaining('already in progress (Drained)') });
    setTimeout(() => advance(api.objects.get('n2')!, 'Completed'), 20);
    expect(await runMigrate(api, 'n2', { ...o, watch: true })).toBe(0);
    expect(text()).toContain('nodemigration.berth.dev/n2 is already in progress (Drained); watching it\n');
    await expect(runMigrate(api, 'nx', o)).rejects.toThrow('node "nx" not found');
  });
});

describe('rollback', () => {
  test('sets spec.rollback; --watch until RolledBack; none, or RolledBack already, is an error', async () => {
    const api = new FakeApi(NODES, (_n, o) => {
      const spec = o.spec as { rollback?: boolean };
      const phase = (o.status as { phase?: string } | undefined)?.phase;
      if (spec.rollback && phase === 'Completed') advance(o, 'RollingBack');
      else if (phase === 'RollingBack') advance(o, 'RolledBack', 'restored');
    });
    const { out, text } = outSink();
    const o = { watch: true, display: new ProgressDisplay(out), out, pollMs: 1 };
    await expect(runRollback(api, 'n1', o)).rejects.toThrow('node n1 has no NodeMigration named n1');
    await api.createMigration('n1', 'n1', settings());
    advance(api.objects.get('n1')!, 'Completed');
    expect(await runRollback(api, 'n1', o)).toBe(0);
    expect(api.log).toContain('rollback n1');
    expect(text()).toMatch(/^nodemigration.berth.dev\/n1 rollback requested\nn1  Completed  completed\nn1  RollingBack  rollingback\nn1  RolledBack  restored\n$/);
    await expect(runRollback(api, 'n1', o)).rejects.toThrow('nodemigration.berth.dev/n1 is RolledBack already');
  });
});

describe('pool', () => {
  const completeAfter = (reads: number) => {
    const seen = new Map<string, number>();
    return (name: string, o: Record<string, unknown>) => {
      const k = (seen.get(name) ?? 0) + 1;
      seen.set(name, k);
      if (k === 1) advance(o, 'Drained');
      if (k === reads) advance(o, name === 'n2' && o.failN2 ? 'Failed' : 'Completed');
    };
  };

  test('berth:// nodes skipped, one at a time in name order, exit 0 when all Completed', async () => {
    const api = new FakeApi(NODES, completeAfter(3));
    const { out, text } = outSink();
    expect(await runPool(api, 'pool=a', { maxUnavailable: 1, settings: settings(), display: new ProgressDisplay(out), out, pollMs: 1 })).toBe(0);
    expect(api.log).toEqual(['create n1', 'create n2', 'create n4']);
    expect(api.maxInProgress).toBe(1);
    expect(text()).toContain('n3: runs berth://0.1.0 already, skipped\n');
    expect(text()).toContain('pool: 3 of 3 nodes completed\n');
  });

  test('a failure stops new starts; the rest are named; exit 1', async () => {
    const nodes = [...NODES, { name: 'n5', runtime: 'containerd://2.1.0' }];
    const inner = completeAfter(2);
    const api = new FakeApi(nodes, (name, o) => { if (name === 'n2') o.failN2 = true; inner(name, o); });
    const { out, text } = outSink();
    expect(await runPool(api, 'pool=a', { maxUnavailable: 2, settings: settings(), display: new ProgressDisplay(out), out, pollMs: 1 })).toBe(1);
    expect(api.log).toEqual(['create n1', 'create n2']);
    expect(api.maxInProgress).toBe(2);
    expect(text()).toContain('failed: n2 (Failed)\nnot started, after the failure: n4, n5\n');
  });

  test('an existing Completed migration counts as done; an unsuccessful one is an error before anything starts', async () => {
    const api = new FakeApi(NODES, completeAfter(2));
    await api.createMigration('n1', 'n1', settings());
    advance(api.objects.get('n1')!, 'Completed');
    api.log.length = 0;
    const { out } = outSink();
    const o = { maxUnavailable: 1, settings: settings(), display: new ProgressDisplay(out), out, pollMs: 1 };
    expect(await runPool(api, 'pool=a', o)).toBe(0);
    expect(api.log).toEqual(['create n2', 'create n4']);

    const bad = new FakeApi(NODES);
    for (const [n, p] of [['n2', 'Failed'], ['n4', 'RolledBack']] as const) {
      await bad.createMigration(n, n, settings());
      advance(bad.objects.get(n)!, p);
    }
    bad.log.length = 0;
    await expect(runPool(bad, 'pool=a', o)).rejects.toThrow('these nodes have a NodeMigration that ended unsuccessfully: n2 (Failed), n4 (RolledBack)');
    expect(bad.log).toEqual([]);
  });
});
