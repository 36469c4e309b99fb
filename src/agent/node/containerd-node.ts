/**
 * The NodeSide of a node whose kubelet still runs on containerd (1.6 or 2.x), until it is migrated to berthd:
 * a handler is a runc v2 shim runtime whose BinaryName is the handler's binary, written by applyHandlers()
 * (src/agent/containerd) with the full set Berth wants, so that containerd restarts only when a byte it
 * reads changed and is put back when it does not come back healthy over CRI. Which RuntimeHandler and
 * generation each handler came from is kept in a record beside containerd's config (containerd-record.ts).
 */
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import type { CanaryResult, RuntimeHandler, RuntimeHandlerRuntime } from '../api/types';
import { applyHandlers, configuredHandlers, criHealth, readContainerdVersion, removeAll, type ContainerdHandler, type ContainerdTarget, type ContainerdVersion } from '../containerd';
import type { NodeObservation, NodeSide } from '../node-side';
import type { ConfigureHandler, ConfiguredHandler, RunCanary } from '../reconcile';
import { checkBerthd } from '../service/health';
import { runCanary } from './canary';
import { locateContainerd, SEARCH_DIRS, type ContainerdLocation } from './containerd-locate';
import { readRecord, recordPathOf, writeRecord, type RecordedHandler } from './containerd-record';
import type { RestartContainerd } from './host-units';
import type { HostExec } from './host-exec';
import { kubeletFacts } from './kubelet';
import { nodeFacts } from './node-facts';
import { runtimeBinary } from './runtime-binary';

export const CRI_HEALTHY = 'CriHealthy';
/** Berth's drop-ins go to conf.d beside the main config (containerd 2.x imports them from there). */
const DROPIN_DIR = 'conf.d';

export interface ContainerdNodeOptions {
  host: HostExec;
  stackVersion: string;
  /** The installed stack's bin/, as a host path. */
  stackBin: string;
  /** berth-canary, as the agent sees it. */
  canaryProgram: string;
  /** A host directory for canary bundles. */
  workDir: string;
  /** containerd's CRI socket, as the agent sees it. */
  socket: string;
  /** The same socket as kubelet's files name it (how the listening process is found); default `socket`. */
  hostSocket?: string;
  /** berthd's socket, as the agent sees it (the stack is installed beside containerd until the migration). */
  berthdSocket: string;
  restart: RestartContainerd;
  /** How long containerd may take to be healthy after a restart; default applyHandlers' 60 s. */
  healthTimeoutMs?: number;
  /** Where processes are looked up; default /proc. */
  proc?: string;
}

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export class ContainerdNode implements NodeSide {
  /** The last containerd found running: used while it is down (restarting), so its files are still known. */
  private lastSeen?: ContainerdLocation;
  private version?: { key: string; version: ContainerdVersion };

  constructor(private readonly o: ContainerdNodeOptions) {}

  /** containerd's files as applyHandlers() wants them; `running` refuses to guess while no containerd runs. */
  private async target(running: boolean): Promise<ContainerdTarget> {
    const found = locateContainerd({ host: this.o.host, socketPaths: [...new Set([this.o.hostSocket ?? this.o.socket, this.o.socket])], proc: this.o.proc });
    if (found.pid !== undefined) this.lastSeen = found;
    const loc = found.pid !== undefined ? found : (this.lastSeen ?? found);
    if (running && loc.pid === undefined) {
      throw new BerthError('Unavailable', `no containerd process serves ${this.o.hostSocket ?? this.o.socket}: not changing containerd's config while it cannot be told which config it reads`);
    }
    if (!loc.binary) {
      throw new BerthError('FailedPrecondition', `cannot tell which containerd this node runs: no containerd process serves ${this.o.hostSocket ?? this.o.socket} and there is no containerd in ${SEARCH_DIRS.join(', ')} under ${this.o.host.hostRoot}`);
    }
    const key = `${loc.pid ?? ''}:${loc.binary}`;
    if (this.version?.key !== key) this.version = { key, version: await readContainerdVersion(loc.binary) };
    return {
      configPath: loc.configPath,
      dropInDir: path.join(path.dirname(loc.configPath), DROPIN_DIR),
      hostDropInDir: path.join(path.dirname(loc.hostConfigPath), DROPIN_DIR),
      version: this.version.version,
      restart: this.o.restart,
      healthy: criHealth(this.o.socket),
      ...(this.o.healthTimeoutMs !== undefined ? { healthTimeoutMs: this.o.healthTimeoutMs } : {}),
    };
  }

  /**
   * Berth's handlers in containerd's files, annotated from the record. One the record does not know (the
   * agent stopped between the two writes) is reported with generation 0 and an empty uid: the reconciler then
   * configures it again (no restart when the bytes match) or removes it.
   */
  private configuredIn(t: ContainerdTarget): Array<ConfiguredHandler & { recorded?: RecordedHandler }> {
    const record = readRecord(recordPathOf(t.configPath));
    return configuredHandlers(t).map((handler) => {
      const r = record.get(handler);
      return r ? { handler, generation: r.generation, ...(r.uid ? { uid: r.uid } : {}), recorded: r } : { handler, generation: 0, uid: '' };
    });
  }

  async observe(): Promise<NodeObservation> {
    const kubelet = kubeletFacts(this.o.host);
    const [cri, berthd] = await Promise.all([checkBerthd(this.o.socket), checkBerthd(this.o.berthdSocket)]);
    const t = await this.target(false);
    return {
      configured: this.configuredIn(t).map(({ handler, generation, uid }) => ({ handler, generation, ...(uid !== undefined ? { uid } : {}) })),
      // This side is chosen for containerd's endpoint; a node with no endpoint in kubelet's files is still containerd's here.
      facts: nodeFacts({ stackVersion: this.o.stackVersion, berthd, kubelet, runtimeWithoutEndpoint: 'containerd' }),
      conditions: [{
        type: CRI_HEALTHY, status: cri.healthy ? 'True' : 'False',
        reason: cri.healthy ? 'CriReady' : 'CriNotReady', message: `containerd ${t.version.text}: ${cri.message}`,
      }],
    };
  }

  /** The handler's containerd settings: its binary as containerd sees it, cgroups as kubelet drives them unless the spec says. */
  private handlerFor(handler: string, runtime: RuntimeHandlerRuntime): ContainerdHandler {
    const binary = this.o.host.onHost(runtimeBinary(runtime, this.o.host, this.o.stackBin));
    const systemdCgroup = runtime.systemdCgroup ?? kubeletFacts(this.o.host).cgroupDriver === 'systemd';
    return { handler, binaryName: binary, ...(runtime.root !== undefined ? { root: runtime.root } : {}), systemdCgroup };
  }

  /** Applies `change` to the recorded set and writes the full set to containerd, then the record. */
  private async apply(t: ContainerdTarget, change: (set: Map<string, RecordedHandler>) => void): Promise<void> {
    const set = new Map<string, RecordedHandler>();
    for (const c of this.configuredIn(t)) if (c.recorded) set.set(c.handler, c.recorded);
    change(set);
    await applyHandlers([...set.values()].map((h) => h.config), t);
    writeRecord(recordPathOf(t.configPath), set);
  }

  async configure(a: ConfigureHandler): Promise<void> {
    const config = this.handlerFor(a.handler, a.runtime);
    const t = await this.target(true);
    await this.apply(t, (set) => {
      set.set(a.handler, { runtimeHandler: a.runtimeHandler, ...(a.uid ? { uid: a.uid } : {}), generation: a.generation, config });
    });
  }

  async unconfigure(handler: string): Promise<void> {
    const t = await this.target(true);
    await this.apply(t, (set) => {
      set.delete(handler);
    });
  }

  /** For `berth-agent uninstall` on a containerd node: every handler Berth added gone, containerd's config as it was. */
  async uninstall(): Promise<void> {
    const t = await this.target(true);
    await removeAll(t);
    writeRecord(recordPathOf(t.configPath), new Map());
  }

  async canary(a: RunCanary, owner: RuntimeHandler | undefined): Promise<CanaryResult> {
    const now = () => new Date();
    if (!owner) return { passed: false, time: rfc3339(now()), message: `no RuntimeHandler names handler ${a.handler}` };
    let binary: string;
    try {
      binary = this.o.host.onHost(runtimeBinary(owner.spec.runtime, this.o.host, this.o.stackBin));
    } catch (err) {
      return { passed: false, time: rfc3339(now()), message: (err as Error).message };
    }
    // As BerthdNode's: the binary itself, so a broken runtime fails here before containerd is asked to use it.
    return runCanary({
      binary, canaryProgram: this.o.canaryProgram, workDir: this.o.workDir, host: this.o.host,
      timeoutSeconds: a.timeoutSeconds, systemdCgroup: owner.spec.runtime.systemdCgroup, now,
    });
  }

  close(): void {
    // Every probe and restart has its own short-lived connection: nothing to close.
  }
}
