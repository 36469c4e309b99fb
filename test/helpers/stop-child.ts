/** Stopping a daemon the tests started: SIGTERM to its own process, SIGKILL if it has not exited after `graceMs`. */
import type { ChildProcess } from 'node:child_process';

export async function stopChild(p: ChildProcess, graceMs = 10_000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), graceMs); });
  const inTime = await Promise.race([exited.then(() => true), late]);
  clearTimeout(timer);
  if (inTime) return;
  p.kill('SIGKILL');
  await exited;
}
