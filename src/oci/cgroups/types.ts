/**
 * The cgroup a container gets, as an interface: its two drivers (cgroupfs in index.ts, systemd in
 * systemd/driver.ts) implement it, apart from the module that chooses between them.
 */
import type { Resources } from '../spec/types';
import type { CgroupMode } from './detect';
import type * as stats from './stats';

export type FreezerState = 'frozen' | 'thawed';

/**
 * A container's cgroup. Two drivers implement it (CgroupOptions.driver):
 *  - 'cgroupfs': Berth creates and removes the directories itself.
 *  - 'systemd' (runc --systemd-cgroup): the cgroup is a transient scope unit that systemd creates over D-Bus,
 *    which it can only do together with a first process. So with this driver: create() does nothing;
 *    apply() before the first addProcess() only validates and remembers the resources; the first addProcess(pid)
 *    calls StartTransientUnit with PIDs=[pid] plus the remembered resources as unit properties, waits for the
 *    job, then does through cgroupfs whatever systemd does not (the directories of hierarchies systemd does not
 *    manage, every remembered limit, the pid into every hierarchy). Once the unit exists, every method works on
 *    the scope's directories exactly as with cgroupfs, except update() (also sets the unit properties) and
 *    remove() (stops the unit). Call remove(), not destroy(), to tear a systemd cgroup down.
 */
export interface Cgroup {
  readonly mode: CgroupMode;
  /** Controller name (v1, e.g. "memory", "name=systemd") or UNIFIED ("unified", the cgroup2 dir) → directory. */
  readonly paths: Readonly<Record<string, string>>;
  /**
   * mkdir -p in every hierarchy (idempotent); initialises v1 cpuset dirs and v2 ancestors' subtree_control.
   * systemd driver: nothing (the scope is created by the first addProcess()).
   */
  create(): void;
  /**
   * Validates, then writes the limits present in `resources`; absent fields are left as they are.
   * systemd driver, before the first addProcess(): validates and remembers them for StartTransientUnit (several
   * calls accumulate, later values win); afterwards: cgroupfs writes only — systemd may revert limits it holds
   * as unit properties on a daemon-reload, use update() for a running container.
   */
  apply(resources: Resources | undefined): void;
  /** apply(), and with the systemd driver SetUnitProperties(unit, runtime=true, …) first, as runc update does. */
  update(resources: Resources | undefined): Promise<void>;
  /**
   * Moves a process (all its threads) into the cgroup in every hierarchy.
   * systemd driver: the first call creates the scope with this process in it (see above); it rejects with an
   * Unavailable BerthError when systemd cannot be reached, and with systemd's error (mapped to a kind) when the
   * unit cannot be started. If it fails after the unit started, call remove().
   */
  addProcess(pid: number): Promise<void>;
  /**
   * The cgroup.procs files a process joins by writing 0 to each, in order: the fast way in for a process that
   * can write them itself (berth-init). undefined when joining must go through addProcess() (systemd, before
   * its unit exists).
   */
  joinFiles(): string[] | undefined;
  /** Every process in the cgroup or its sub-cgroups, across all hierarchies, ascending. */
  pids(): number[];
  freeze(): void;
  thaw(): void;
  state(): FreezerState;
  stats(): stats.CgroupStats;
  oomKillCount(): number;
  /** Signals every process; SIGKILL through cgroup.kill when the kernel has it. */
  killAll(signal: NodeJS.Signals | number): void;
  /**
   * Removes the cgroup (and sub-cgroups) from every hierarchy; idempotent.
   * systemd driver: removes leftover directories only and leaves the unit to systemd (which drops a scope whose
   * processes are gone); remove() is the complete teardown.
   */
  destroy(): void;
  /**
   * Complete teardown. cgroupfs: destroy(). systemd: StopUnit(unit, "replace") and wait for the job (a unit
   * that does not exist is fine), ResetFailedUnit, then destroy() — the directories are removed even when
   * systemd cannot be reached, and the first error is thrown after. Idempotent.
   */
  remove(): Promise<void>;
}
