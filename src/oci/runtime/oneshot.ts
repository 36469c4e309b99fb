/**
 * berth-init's one-shot modes (device-bpf, detach): no container process, no fd 3. The plan goes to stdin and
 * the one reply line ("ok" / "error <message>") comes on stdout (see src/native/berth-init.c). Synchronous,
 * because its callers are (Cgroup.apply, the delete path after the cgroups).
 */
import { spawnSync } from 'node:child_process';
import { BerthError } from '../../common/errors';
import { initBinary } from './helper';

/** Each of these takes milliseconds; anything near this is a hung kernel or helper. */
const TIMEOUT_MS = 30_000;

/** Runs berth-init on `plan`; `what` says what it was doing, for errors, which carry `field` when given. */
export function runOneShot(plan: Buffer, what: string, field?: string): void {
  const r = spawnSync(initBinary(), [], { input: plan, stdio: ['pipe', 'pipe', 'pipe'], timeout: TIMEOUT_MS, killSignal: 'SIGKILL' });
  if (r.error) {
    const timedOut = (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    throw new BerthError(timedOut ? 'DeadlineExceeded' : 'Internal', `${what}: berth-init ${timedOut ? `did not finish in ${TIMEOUT_MS / 1000}s` : `could not run: ${r.error.message}`}`, {
      field,
      cause: r.error,
    });
  }
  const reply = (r.stdout?.toString('utf8') ?? '').split('\n')[0];
  if (r.status === 0 && reply === 'ok') return;
  if (reply.startsWith('error ')) throw new BerthError('FailedPrecondition', reply.slice(6), { field });
  const stderr = (r.stderr?.toString('utf8') ?? '').trim().replace(/^berth-init: /, '');
  const how = r.signal ? `was killed by ${r.signal}` : `exited with status ${r.status}`;
  throw new BerthError('Internal', `${what}: berth-init ${how}${stderr ? `: ${stderr}` : reply ? `, replying "${reply}"` : ' without a reply'}`, { field });
}
