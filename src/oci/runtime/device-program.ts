/**
 * cgroup v2 device access: hands a compiled BPF_PROG_TYPE_CGROUP_DEVICE program (src/oci/cgroups/devices-bpf.ts)
 * to berth-init, which loads it and makes it the cgroup's only device filter (new one attached before the old
 * ones are detached, like runc). This is the `loadDeviceProgram` of the cgroup library.
 *
 * Synchronous, because Cgroup.apply is: berth-init runs in its one-shot device-bpf mode, started without fd 3,
 * with the plan on stdin and its reply line ("ok" / "error <message>") on stdout (see src/native/berth-init.c).
 */
import { spawnSync } from 'node:child_process';
import { BerthError } from '../../common/errors';
import { Mode, PlanWriter, Tag } from '../plan/wire';
import { initBinary } from './helper';

const FIELD = 'linux.resources.devices';
/** Loading a small program takes milliseconds; anything near this is a hung kernel or helper. */
const TIMEOUT_MS = 30_000;

export function attachDeviceProgram(cgroupDir: string, program: Buffer): void {
  const plan = new PlanWriter().add(Tag.MODE, Mode.DEVICE_BPF).add(Tag.DEVICE_BPF, cgroupDir, program).finish();
  const r = spawnSync(initBinary(), [], { input: plan, stdio: ['pipe', 'pipe', 'pipe'], timeout: TIMEOUT_MS, killSignal: 'SIGKILL' });
  if (r.error) {
    const timedOut = (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    throw new BerthError(timedOut ? 'DeadlineExceeded' : 'Internal', `attach device program to ${cgroupDir}: berth-init ${timedOut ? `did not finish in ${TIMEOUT_MS / 1000}s` : `could not run: ${r.error.message}`}`, {
      field: FIELD,
      cause: r.error,
    });
  }
  const reply = (r.stdout?.toString('utf8') ?? '').split('\n')[0];
  if (r.status === 0 && reply === 'ok') return;
  if (reply.startsWith('error ')) throw new BerthError('FailedPrecondition', reply.slice(6), { field: FIELD });
  const stderr = (r.stderr?.toString('utf8') ?? '').trim().replace(/^berth-init: /, '');
  const how = r.signal ? `was killed by ${r.signal}` : `exited with status ${r.status}`;
  throw new BerthError('Internal', `attach device program to ${cgroupDir}: berth-init ${how}${stderr ? `: ${stderr}` : reply ? `, replying "${reply}"` : ' without a reply'}`, { field: FIELD });
}
