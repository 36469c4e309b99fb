/** What the agent asks of the service manager running berthd on its node (systemd.ts, direct.ts). */
import type { BerthdHealth } from './health';

export interface EnsureResult {
  /**
   * running: the one supervised already is right; adopted: one found running was right and kept;
   * started: none ran; restarted: the running one had another binary or config (or did not answer).
   */
  readonly action: 'running' | 'adopted' | 'started' | 'restarted';
  readonly pid: number;
  readonly reason: string;
}

export interface BerthdService {
  /**
   * berthd runs the binary of `/opt/berth/current` with the config file as it is now: a running berthd with
   * both unchanged is kept (never restarted), one with either changed is restarted.
   */
  ensure(): Promise<EnsureResult>;
  health(): Promise<BerthdHealth>;
  /** Stops berthd (uninstall). Its shim and containers are left alone. */
  stop(): Promise<void>;
  /** Stops watching; berthd keeps running (the agent is stopping or restarting). */
  close(): void;
}
