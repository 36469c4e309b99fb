/**
 * How the agent runs a program on its node. In the DaemonSet the agent sees the host at /host and shares its
 * PID namespace: host programs run in the host's mount namespace (nsenter into PID 1's), with the paths the
 * host sees. With --service-manager direct (tests, several agents on one machine) the "host" is a directory
 * in the agent's own mount namespace: programs run as they are, with paths under that directory.
 */
import * as path from 'node:path';

export interface HostExec {
  /** Where the agent sees the host's `/`. */
  readonly hostRoot: string;
  /** The host's path `p` as the programs the agent starts see it. */
  onHost(p: string): string;
  /** The host's path `p` as the agent itself sees it. */
  inAgent(p: string): string;
  /**
   * A path found in one of the host's own files (kubelet's endpoint…), as the agent sees it: such paths are
   * the host's in the DaemonSet, and usually real ones already when the host is a directory of this machine.
   */
  fromHostFile(p: string): string;
  /** What goes before a host program's argv. */
  readonly argvPrefix: readonly string[];
}

export function hostExec(hostRoot: string, mode: 'nsenter' | 'same-namespace'): HostExec {
  const inAgent = (p: string) => path.join(hostRoot, p);
  return mode === 'nsenter'
    ? { hostRoot, onHost: (p) => p, inAgent, fromHostFile: inAgent, argvPrefix: ['nsenter', '--target', '1', '--mount', '--'] }
    : { hostRoot, onHost: inAgent, inAgent, fromHostFile: (p) => (p === hostRoot || p.startsWith(`${hostRoot}/`) ? p : inAgent(p)), argvPrefix: [] };
}
