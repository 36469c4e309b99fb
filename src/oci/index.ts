/**
 * The OCI runtime's public face: berth-run's command line (src/bin/berth-run.ts), the Runtime library the shim
 * drives in-process, and the runtime-spec types. Everything else is private to src/oci.
 */
export { main } from './cli/main';
export { writeErr } from './cli/output';
export { Runtime } from './runtime/runtime';
export type { Process, Spec } from './spec/types';
export type {
  Capabilities, Device, DeviceCgroupRule, HugepageLimit, IdMapping, Linux, Mount, Namespace, NamespaceType, Resources,
  Seccomp, SeccompAction, SeccompArch, SeccompArg, SeccompOperator, SeccompSyscall, User,
} from './spec/types';
