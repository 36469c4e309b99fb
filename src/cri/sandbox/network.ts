/**
 * Pod networking through CNI: the first conflist of the config dir, the bundled plugins in-process (others
 * exec'd from binDirs), the K8S_POD_* args kubelet-era runtimes pass, port mappings and DNS as capability
 * args. The conflist is read again at each attach, so a CNI config written after berthd started (as
 * network add-ons do) is picked up without a restart.
 */
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import type { Logger } from '../../common/log';
import { Invoker, loadNetwork, networkFromText, type CniResult, type LoadedNetwork } from '../../cni';
import type { PodSandboxConfig } from '../types';

export const POD_IFNAME = 'eth0';
/** Every pod gets `lo` up, whatever its conflist says (as containerd and CRI-O do with their own loopback). */
const LOOPBACK = networkFromText(JSON.stringify({ cniVersion: '1.1.0', name: 'berth-loopback', plugins: [{ type: 'berth-loopback' }] }), '<builtin loopback>');
const LO_IFNAME = 'lo';

/** Hears each CNI operation: the network's plugin types joined with "+", the command, its seconds. */
export type CniObserver = (plugin: string, command: string, seconds: number) => void;

export interface NetworkReadiness {
  ready: boolean;
  reason: string;
  message: string;
}

export class PodNetwork {
  private readonly invoker: Invoker;

  constructor(private readonly options: { confDir: string; binDirs: string[]; cacheDir: string; log: Logger; observe?: CniObserver }) {
    this.invoker = new Invoker({ binDirs: options.binDirs, cacheDir: options.cacheDir });
  }

  /** Runs one CNI operation, telling the observer how long it took whether it worked or not. */
  private async timed<T>(net: LoadedNetwork, command: 'ADD' | 'DEL' | 'STATUS' | 'GC', op: () => Promise<T>): Promise<T> {
    const observe = this.options.observe;
    if (!observe) return op();
    const start = process.hrtime.bigint();
    try {
      return await op();
    } finally {
      observe(net.list.plugins.map((p) => p.type).join('+'), command, Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  private load(): LoadedNetwork {
    return loadNetwork(this.options.confDir);
  }

  /** NetworkReady as the CRI reports it: a loadable conflist whose plugins answer STATUS. */
  async readiness(): Promise<NetworkReadiness> {
    try {
      const net = this.load();
      await this.timed(net, 'STATUS', () => this.invoker.status(net));
      return { ready: true, reason: '', message: '' };
    } catch (err) {
      return { ready: false, reason: 'NetworkPluginNotReady', message: `cni: ${(err as Error).message}` };
    }
  }

  /** CNI ADD for a sandbox; returns the network's name and the pod IPs (IPv4 first, as kubelet expects). */
  async attach(sandboxId: string, netns: string, config: PodSandboxConfig): Promise<{ network: string; ips: string[] }> {
    let net: LoadedNetwork;
    try {
      net = this.load();
    } catch (err) {
      throw new BerthError('FailedPrecondition', `network not ready: ${(err as Error).message}`, { cause: err });
    }
    await this.timed(LOOPBACK, 'ADD', () => this.invoker.add(LOOPBACK, { containerId: sandboxId, netns, ifname: LO_IFNAME }));
    const m = config.metadata!;
    const portMappings = (config.portMappings ?? [])
      .filter((p) => p.hostPort > 0)
      .map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol.toLowerCase(), hostIP: p.hostIp }));
    const dns = config.dnsConfig ? { servers: config.dnsConfig.servers, searches: config.dnsConfig.searches, options: config.dnsConfig.options } : undefined;
    const result = await this.timed(net, 'ADD', () => this.invoker.add(net, {
      containerId: sandboxId, netns, ifname: POD_IFNAME,
      args: [['IgnoreUnknown', '1'], ['K8S_POD_NAMESPACE', m.namespace], ['K8S_POD_NAME', m.name], ['K8S_POD_INFRA_CONTAINER_ID', sandboxId], ['K8S_POD_UID', m.uid]],
      capabilityArgs: { portMappings, ...(dns ? { dns } : {}), ...(config.linux?.cgroupParent ? { cgroupPath: config.linux.cgroupParent } : {}) },
    }));
    return { network: net.list.name, ips: podIps(result) };
  }

  /**
   * CNI DEL; idempotent, and it works when the netns is already gone (the plugins release IPs and host-side
   * state without it) and when the conflist was removed since (the cached copy is used).
   */
  async detach(sandboxId: string, netns: string): Promise<void> {
    await this.timed(LOOPBACK, 'DEL', () => this.invoker.del(LOOPBACK, { containerId: sandboxId, netns, ifname: LO_IFNAME }));
    let net: LoadedNetwork | undefined;
    try {
      net = this.load();
    } catch {
      net = undefined;
    }
    if (!net) {
      this.options.log.warn('no CNI config: nothing to detach the pod from', { sandboxId });
      return;
    }
    await this.timed(net, 'DEL', () => this.invoker.del(net!, { containerId: sandboxId, netns, ifname: POD_IFNAME }));
  }

  /** The IPs a past ADD recorded (after a restart). */
  cachedIps(network: string, sandboxId: string): string[] {
    const c = this.invoker.cachedResult(network, sandboxId, POD_IFNAME);
    return c ? podIps(c.result as unknown as CniResult) : [];
  }

  /** Releases cached attachments of sandboxes that no longer exist. */
  async collect(valid: string[]): Promise<void> {
    let net: LoadedNetwork;
    try {
      net = this.load();
    } catch {
      return;
    }
    await this.timed(net, 'GC', () => this.invoker.gc(net, valid.map((containerId) => ({ containerId, ifname: POD_IFNAME }))));
  }
}

function podIps(result: CniResult): string[] {
  const ips = (result.ips ?? []).map((i) => i.address.split('/')[0]);
  return [...ips.filter((ip) => !ip.includes(':')), ...ips.filter((ip) => ip.includes(':'))];
}

export const cniCacheDir = (root: string): string => path.join(root, 'cni');
