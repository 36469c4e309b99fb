/**
 * cgroup v2 device access: hands a compiled BPF_PROG_TYPE_CGROUP_DEVICE program (src/oci/cgroups/devices-bpf.ts)
 * to berth-init, which loads it and makes it the cgroup's only device filter (new one attached before the old
 * ones are detached, like runc). This is the `loadDeviceProgram` of the cgroup library.
 */
import { Mode, PlanWriter, Tag } from '../plan/wire';
import { runOneShot } from './oneshot';

export function attachDeviceProgram(cgroupDir: string, program: Buffer): void {
  const plan = new PlanWriter().add(Tag.MODE, Mode.DEVICE_BPF).add(Tag.DEVICE_BPF, cgroupDir, program).finish();
  runOneShot(plan, `attach device program to ${cgroupDir}`, 'linux.resources.devices');
}
