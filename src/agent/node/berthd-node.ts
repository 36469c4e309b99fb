/**
 * The NodeSide of a node whose CRI is berthd: handlers as berthd drop-ins, berthd's health and served handlers
 * over its CRI socket, kubelet's view of the node from its files, the canary through the handler's binary.
 */
import type { CanaryResult, RuntimeHandler } from '../api/types';
import type { NodeObservation, NodeSide } from '../node-side';
import type { ConfigureHandler, RunCanary } from '../reconcile';
import { BerthdHandlers } from './berthd-handlers';
import { runCanary } from './canary';
import { checkBerthd } from '../service/health';
import type { HostExec } from './host-exec';
import { kubeletFacts, socketOf } from './kubelet';
import { nodeFacts } from './node-facts';
import { runtimeBinary } from './runtime-binary';

export interface BerthdNodeOptions {
  host: HostExec;
  stackVersion: string;
  /** The installed stack's bin/, as a host path. */
  stackBin: string;
  /** berth-canary, as the agent sees it. */
  canaryProgram: string;
  /** A host directory for canary bundles. */
  workDir: string;
  /** berthd's runtimes drop-in directory, as the agent sees it. */
  runtimesDir: string;
  /** berthd's socket, as the agent sees it. */
  berthdSocket: string;
}

export class BerthdNode implements NodeSide {
  private readonly handlers: BerthdHandlers;

  constructor(private readonly o: BerthdNodeOptions) {
    this.handlers = new BerthdHandlers({ dir: o.runtimesDir, servedHandlers: async () => [...(await checkBerthd(o.berthdSocket)).handlers] });
  }

  async observe(): Promise<NodeObservation> {
    const kubelet = kubeletFacts(this.o.host);
    const health = await checkBerthd(this.o.berthdSocket);
    return {
      configured: this.handlers.configured(),
      facts: nodeFacts({ stackVersion: this.o.stackVersion, berthd: health, kubelet, runtimeWithoutEndpoint: 'unknown' }),
      conditions: [{
        type: 'BerthdHealthy', status: health.healthy ? 'True' : 'False',
        reason: health.healthy ? 'CriReady' : 'CriNotReady', message: health.message,
      }],
    };
  }

  /** The socket kubelet uses, when it is not berthd's (a node still on containerd). */
  kubeletSocket(): string | undefined {
    const { runtimeEndpoint } = kubeletFacts(this.o.host);
    return runtimeEndpoint ? socketOf(runtimeEndpoint, this.o.host) : undefined;
  }

  async configure(a: ConfigureHandler): Promise<void> {
    const binary = runtimeBinary(a.runtime, this.o.host, this.o.stackBin);
    await this.handlers.configure(a, this.o.host.onHost(binary));
  }

  unconfigure(handler: string): Promise<void> {
    return this.handlers.unconfigure(handler);
  }

  async canary(a: RunCanary, owner: RuntimeHandler | undefined): Promise<CanaryResult> {
    const now = () => new Date();
    if (!owner) return { passed: false, time: now().toISOString().replace(/\.\d{3}Z$/, 'Z'), message: `no RuntimeHandler names handler ${a.handler}` };
    let binary: string;
    try {
      binary = this.o.host.onHost(runtimeBinary(owner.spec.runtime, this.o.host, this.o.stackBin));
    } catch (err) {
      return { passed: false, time: now().toISOString().replace(/\.\d{3}Z$/, 'Z'), message: (err as Error).message };
    }
    return runCanary({
      binary, canaryProgram: this.o.canaryProgram, workDir: this.o.workDir, host: this.o.host,
      timeoutSeconds: a.timeoutSeconds, systemdCgroup: owner.spec.runtime.systemdCgroup, now,
    });
  }

  close(): void {
    // Each probe has its own short-lived connection: nothing to close.
  }
}
