/**
 * Fault injection for the crash-recovery tests: when BERTH_CRASH_AT names this point, the process kills
 * itself with SIGKILL right there, as a crash or `kill -9` at that instant would. Unset (always, outside
 * those tests), it does nothing.
 */
export function crashPoint(name: string): void {
  if (process.env.BERTH_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}
