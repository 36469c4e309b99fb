/**
 * CreateContainer → config.json: the OCI runtime spec of a pod container, built the way containerd's CRI plugin
 * builds it (its containerSpec is the behavioural reference). Pure apart from reading a Localhost seccomp profile
 * (and stat'ing CRI devices when no statDevice is injected): the caller resolves the user, mounts the rootfs and
 * names the pod's namespaces beforehand.
 */
import * as os from 'node:os';
import { invalid } from '../../common/errors';
import type { ImageRunConfig } from '../../image/api';
import type { Process, Spec } from '../../oci';
import type { ContainerConfig, PodSandboxConfig } from '../types';
import { buildDevices, statHostDevice, type StatDevice } from './devices';
import { buildMounts, type SandboxFiles } from './mounts';
import { buildNamespaces, type NamespacePaths } from './namespaces';
import { processArgs, processCwd, processEnv } from './process';
import { buildResources } from './resources';
import { seccompFor } from './seccomp';
import { apparmorFor, capabilitiesFor, maskedAndReadonlyPaths, SC } from './security';
import type { ResolvedUser } from './user';

/** 1.0.2, not newer: Debian's crun refuses configs that claim a later version. */
export const CONTAINER_OCI_VERSION = '1.0.2';

export interface ContainerSpecInput {
  /** Container id (64 hex); the caller's cgroupsPath already carries it. */
  id: string;
  sandboxId: string;
  config: ContainerConfig;
  sandboxConfig: PodSandboxConfig;
  image: ImageRunConfig;
  /** Absolute path of the mounted rootfs. */
  rootfs: string;
  /** From resolveUser (user.ts), resolved by the caller beforehand. */
  user: ResolvedUser;
  /** Namespaces to join; see buildNamespaces for what a missing one means. */
  namespaces: NamespacePaths;
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
  /** Host files the sandbox prepared, bound in unless a CRI mount covers the same path. */
  sandboxFiles: SandboxFiles;
  /** cgroupfs "/kubepods/.../<id>" or systemd "slice:prefix:name", computed by the caller. */
  cgroupsPath: string;
  /** The lowest oom_score_adj the process may set (without CAP_SYS_RESOURCE: berthd's own). */
  minOomScoreAdj: number;
  /** Base of Localhost seccomp profiles given as relative paths. */
  seccompProfileRoot?: string;
  /** Inspects the host node of each CRI device; default statHostDevice (the only I/O then left in here). */
  statDevice?: StatDevice;
  /** Whether the host runs AppArmor (/sys/kernel/security/apparmor exists); default false. */
  apparmorEnabled?: boolean;
  /** HOSTNAME for pods without a hostname of their own (host network); default os.hostname(). */
  nodeHostname?: string;
  /** process.arch for the default seccomp profile; default this process'. */
  arch?: string;
}

export interface ContainerSpecResult {
  spec: Spec;
  /** What was asked and adjusted or left out (e.g. a clamped oom_score_adj), for the caller to log. */
  warnings: string[];
}

/** fs.mqueue.* and the SysV IPC keys are the IPC namespace's sysctls. */
const ipcSysctl = (k: string) => k.startsWith('fs.mqueue.') || /^kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)$/.test(k);

/** The pod's sysctls, except those of a namespace the container shares with the host. */
function sysctls(input: ContainerSpecInput, warnings: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.sandboxConfig.linux?.sysctls ?? {})) {
    const host = (k.startsWith('net.') && input.hostNetwork) || (ipcSysctl(k) && input.hostIpc);
    if (host) warnings.push(`sandbox_config.linux.sysctls["${k}"]: not set, it would change the host's own namespace`);
    else out[k] = v;
  }
  return out;
}

function annotations(input: ContainerSpecInput): Record<string, string> {
  const { config, sandboxConfig } = input;
  const md = sandboxConfig.metadata;
  // CRI's own keys last, so the request's annotations cannot pose as them.
  return {
    ...config.annotations,
    'io.kubernetes.cri.container-type': 'container',
    'io.kubernetes.cri.sandbox-id': input.sandboxId,
    'io.kubernetes.cri.sandbox-name': md?.name ?? '',
    'io.kubernetes.cri.sandbox-namespace': md?.namespace ?? '',
    'io.kubernetes.cri.sandbox-uid': md?.uid ?? '',
    'io.kubernetes.cri.container-name': config.metadata?.name ?? '',
    'io.kubernetes.cri.image-name': config.image?.userSpecifiedImage || config.image?.image || '',
  };
}

export function buildContainerSpec(input: ContainerSpecInput): ContainerSpecResult {
  const { config, sandboxConfig } = input;
  const warnings: string[] = [];
  if (!config.metadata?.name) throw invalid('config.metadata.name', 'is required');
  if (config.CDIDevices.length > 0) throw invalid('config.CDI_devices', 'CDI devices are not supported');
  const sc = config.linux?.securityContext ?? null;
  const privileged = sc?.privileged ?? false;
  if (privileged && !sandboxConfig.linux?.securityContext?.privileged) {
    throw invalid(`${SC}.privileged`, 'a privileged container needs a privileged sandbox');
  }
  const readonlyRootfs = sc?.readonlyRootfs ?? false;
  const hostname = sandboxConfig.hostname || input.nodeHostname || os.hostname();

  const capabilities = capabilitiesFor(sc, privileged);
  const ns = buildNamespaces({ sc, sandboxConfig, paths: input.namespaces, hostNetwork: input.hostNetwork, hostIpc: input.hostIpc, hostPid: input.hostPid, privileged });
  const { mounts, rootfsPropagation } = buildMounts({ config, sandboxFiles: input.sandboxFiles, privileged, readonlyRootfs, bindSys: ns.userns && input.hostNetwork });
  const { devices, rules } = buildDevices(config, input.statDevice ?? statHostDevice, privileged);
  const { resources, oomScoreAdj } = buildResources(config.linux?.resources ?? null, input.minOomScoreAdj, warnings);
  const seccomp = seccompFor(sc, privileged, { caps: capabilities.bounding ?? [], profileRoot: input.seccompProfileRoot, arch: input.arch });
  const apparmorProfile = apparmorFor(sc, privileged, input.apparmorEnabled ?? false, warnings);
  const paths = maskedAndReadonlyPaths(sc, privileged);

  const { uid, gid, additionalGids } = input.user;
  const proc: Process = {
    terminal: config.tty,
    user: additionalGids.length > 0 ? { uid, gid, additionalGids: [...additionalGids] } : { uid, gid },
    args: processArgs(config, input.image),
    env: processEnv(config, input.image, hostname),
    cwd: processCwd(config, input.image),
    capabilities,
    noNewPrivileges: sc?.noNewPrivs ?? false,
  };
  if (oomScoreAdj !== undefined) proc.oomScoreAdj = oomScoreAdj;
  if (apparmorProfile) proc.apparmorProfile = apparmorProfile;

  const spec: Spec = {
    ociVersion: CONTAINER_OCI_VERSION,
    process: proc,
    root: { path: input.rootfs, readonly: readonlyRootfs },
    mounts,
    annotations: annotations(input),
    linux: {
      namespaces: ns.namespaces,
      ...(ns.uidMappings ? { uidMappings: ns.uidMappings, gidMappings: ns.gidMappings } : {}),
      devices,
      cgroupsPath: input.cgroupsPath,
      resources: { ...resources, devices: rules },
      ...(rootfsPropagation ? { rootfsPropagation } : {}),
      ...(seccomp ? { seccomp } : {}),
      sysctl: sysctls(input, warnings),
      maskedPaths: paths.masked,
      readonlyPaths: paths.readonly,
    },
  };
  // Only a UTS namespace of the container's own is named here: a joined one has the pod's hostname already
  // (the sandbox set it) and a host-network container shares the node's.
  if (ns.ownUts) spec.hostname = hostname;
  return { spec, warnings };
}
