/**
 * What the migration's I/O needs from the agent: its API client and node, the host as it sees it, how it drives
 * the host's services, and where berthd is. One object, built in main.ts, handed to each operation file here.
 */
import type { Logger } from '../../common/log';
import type { KubeClient } from '../kube/client';
import type { Layout } from '../install/layout';
import type { HostExec } from '../node/host-exec';
import type { UnitJob } from '../node/host-units';
import type { BerthdService } from '../service/types';

export interface MigrationContext {
  readonly kube: KubeClient;
  readonly nodeName: string;
  readonly log: Logger;
  readonly host: HostExec;
  readonly layout: Layout;
  /** start/stop of the host's kubelet.service. */
  readonly units: UnitJob;
  /** berthd's service: restarted through it when the registries carried over change its config. */
  readonly service: BerthdService;
  /** Where the host's processes show (kubelet's command line); the agent shares the host's PID namespace. */
  readonly procRoot: string;
}

/** kubelet's endpoint for berthd, as kubelet (on the host) must name it. */
export const berthdEndpoint = (c: MigrationContext): string => `unix://${c.layout.daemon.socket}`;

/** Where a migration keeps the originals of the files it changes (agent's view), per NodeMigration uid. */
export const backupDir = (c: MigrationContext, uid: string): string => c.layout.inAgent(`/var/lib/berth-agent/migrations/${uid}`);
