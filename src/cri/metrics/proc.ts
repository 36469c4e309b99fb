/**
 * What the metrics read from /proc for a container's processes: thread, file descriptor and socket counts,
 * the init process's soft rlimits, and the network counters of the network namespace a process is in.
 * A process that exits while it is being read is simply not counted.
 */
import * as fs from 'node:fs';
import { type NetDevStats, parseLimits, parseNetDev, parseStatusThreads } from './parse';

export interface ProcessSample {
  processes: number;
  threads: number;
  fds: number;
  sockets: number;
}

async function fdCounts(pid: number): Promise<{ fds: number; sockets: number }> {
  const dir = `/proc/${pid}/fd`;
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return { fds: 0, sockets: 0 };
  }
  let sockets = 0;
  await Promise.all(names.map(async (n) => {
    try {
      if ((await fs.promises.readlink(`${dir}/${n}`)).startsWith('socket:')) sockets++;
    } catch {
      // closed meanwhile
    }
  }));
  return { fds: names.length, sockets };
}

async function threadsOf(pid: number): Promise<number | undefined> {
  try {
    return parseStatusThreads(await fs.promises.readFile(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Counts over the given processes (a cgroup's, from cgroupPids()). */
export async function processSample(pids: readonly number[]): Promise<ProcessSample> {
  const per = await Promise.all(pids.map(async (pid) => ({ threads: await threadsOf(pid), ...(await fdCounts(pid)) })));
  const alive = per.filter((p) => p.threads !== undefined);
  return {
    processes: alive.length,
    threads: alive.reduce((a, p) => a + (p.threads ?? 0), 0),
    fds: alive.reduce((a, p) => a + p.fds, 0),
    sockets: alive.reduce((a, p) => a + p.sockets, 0),
  };
}

/** Soft limits of a process by snake_case name (max_open_files, …); null = unlimited; undefined when it is gone. */
export async function softLimits(pid: number): Promise<Map<string, bigint | null> | undefined> {
  try {
    return parseLimits(await fs.promises.readFile(`/proc/${pid}/limits`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The interfaces of the network namespace `pid` is in, loopback left out; undefined when the process is gone. */
export async function netDevOf(pid: number): Promise<NetDevStats[] | undefined> {
  try {
    return parseNetDev(await fs.promises.readFile(`/proc/${pid}/net/dev`, 'utf8')).filter((d) => d.iface !== 'lo');
  } catch {
    return undefined;
  }
}
