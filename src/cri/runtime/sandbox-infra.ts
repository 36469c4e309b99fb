/**
 * The infra ("pause") container of a pod, for nodes whose config names `sandbox.pauseImage`. It joins the
 * pinned network/IPC/UTS namespaces, and for `pid: POD` pods it is the PID 1 of the pod's PID namespace (in
 * place of berth-pod's holder), reaping orphans as pause does. It is berthd's own: not in the container
 * store, so the kubelet never lists, stats or removes it; the sandbox record carries it and its teardown
 * stops it after the pod's containers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, notFound } from '../../common/errors';
import { newId } from '../../common/ids';
import { writeFileAtomic } from '../../common/atomic';
import { stringifyJson } from '../../common/json';
import type { ImageRunConfig } from '../../image/api';
import { buildContainerSpec } from '../container/spec';
import { resolveUser } from '../container/user';
import { criServices } from '../proto/load';
import { mountOverlay, unmount } from '../sandbox/host';
import type { SandboxRecord } from '../store';
import type { ContainerConfig, CreateContainerRequest } from '../types';
import { containerCgroupsPath } from './container-create';
import { infraBundle } from './sandbox-paths';
import type { RuntimeContext } from './context';

/** containerd gives the sandbox container the fewest CPU shares and an oom_score_adj of -998 (clamped here). */
const INFRA_CPU_SHARES = 2;
const INFRA_OOM_SCORE_ADJ = -998;

const pulls = new WeakMap<RuntimeContext, Promise<ImageRunConfig>>();

/** The pause image, pulled on first use (as containerd pulls its sandbox image); one pull for concurrent pods. */
export function ensurePauseImage(ctx: RuntimeContext): Promise<ImageRunConfig> {
  const present = ctx.images.runConfig(ctx.pauseImage);
  if (present) return Promise.resolve(present);
  let p = pulls.get(ctx);
  if (!p) {
    ctx.log.info('pulling the pause image', { image: ctx.pauseImage });
    p = ctx.images.pull({ reference: ctx.pauseImage }).then(() => {
      const image = ctx.images.runConfig(ctx.pauseImage);
      if (!image) throw notFound(`sandbox.pauseImage: "${ctx.pauseImage}" is not present after its pull`);
      return image;
    }).catch((err: unknown) => {
      throw new BerthError('Unavailable', `sandbox.pauseImage: cannot pull "${ctx.pauseImage}": ${(err as Error).message}`, { cause: err });
    }).finally(() => pulls.delete(ctx));
    pulls.set(ctx, p);
  }
  return p;
}

/**
 * The infra container's CRI config, decoded as the wire would give it (every field present with its default).
 * Locked down as containerd's sandbox container: read-only rootfs, no new privileges, no capabilities unless
 * the pod is privileged, the pod's user and seccomp profile.
 */
function infraConfig(s: SandboxRecord, image: string): ContainerConfig {
  const sc = s.config.linux?.securityContext;
  const ns = sc?.namespaceOptions;
  const partial = {
    metadata: { name: 'POD', attempt: 0 },
    image: { image },
    linux: {
      resources: { cpuShares: INFRA_CPU_SHARES, oomScoreAdj: INFRA_OOM_SCORE_ADJ },
      securityContext: {
        privileged: sc?.privileged ?? false,
        capabilities: sc?.privileged ? null : { dropCapabilities: ['ALL'] },
        // A new PID namespace for the pod (the infra is its PID 1) unless the pod uses the host's.
        namespaceOptions: { network: ns?.network ?? 'POD', ipc: ns?.ipc ?? 'POD', pid: ns?.pid === 'NODE' ? 'NODE' : 'CONTAINER', usernsOptions: ns?.usernsOptions ?? null },
        runAsUser: sc?.runAsUser ?? null, runAsGroup: sc?.runAsGroup ?? null, supplementalGroups: sc?.supplementalGroups ?? [],
        readonlyRootfs: true, noNewPrivs: true, seccomp: sc?.seccomp ?? null,
      },
    },
  };
  const m = criServices().runtime.CreateContainer;
  return (m.requestDeserialize(m.requestSerialize({ config: partial })) as CreateContainerRequest).config!;
}

/** Creates and starts the infra container; records it (and, for `pid: POD`, its PID namespace) on `s`. */
export async function startInfra(ctx: RuntimeContext, s: SandboxRecord, image: ImageRunConfig): Promise<void> {
  const id = newId();
  const bundle = infraBundle(s);
  const rootfs = path.join(bundle, 'rootfs');
  s.infra = { id, image: image.id, pid: 0 };
  ctx.sandboxes.put(s);
  fs.mkdirSync(rootfs, { recursive: true, mode: 0o711 });
  await mountOverlay(rootfs, await ctx.images.prepareRootfs(image.id, id));
  const config = infraConfig(s, ctx.pauseImage);
  const user = resolveUser(rootfs, image, config.linux?.securityContext ?? null);
  const { spec, warnings } = buildContainerSpec({
    id, sandboxId: s.id, config, sandboxConfig: s.config, image, rootfs, user,
    namespaces: { network: s.namespaces.network, ipc: s.namespaces.ipc, uts: s.namespaces.uts, user: s.namespaces.user },
    hostNetwork: s.hostNetwork, hostIpc: s.hostIpc, hostPid: s.hostPid,
    sandboxFiles: { hostname: path.join(s.dir, 'hostname'), hosts: path.join(s.dir, 'hosts'), resolvConf: path.join(s.dir, 'resolv.conf') },
    cgroupsPath: containerCgroupsPath(ctx.cgroupDriver, s.cgroupParent, id),
    minOomScoreAdj: ctx.minOomScoreAdj,
  });
  for (const w of warnings) ctx.log.debug(w, { sandboxId: s.id, containerId: id });
  writeFileAtomic(path.join(bundle, 'config.json'), stringifyJson(spec), 0o600, { durable: false });
  const shim = await ctx.shim();
  const runtime = ctx.handlers.resolve(s.runtimeHandler, 'runtime_handler');
  const { pid } = await shim.create({ id, bundle, runtime, cgroupDriver: ctx.cgroupDriver });
  await shim.start({ id });
  s.infra.pid = pid;
  if (!s.hostPid && s.config.linux?.securityContext?.namespaceOptions?.pid === 'POD') s.namespaces.pid = `/proc/${pid}/ns/pid`;
  ctx.sandboxes.put(s);
}

/** Kills and deletes the infra task, unmounts and removes its rootfs. Idempotent; a missing task is fine. */
export async function stopInfra(ctx: RuntimeContext, s: SandboxRecord): Promise<void> {
  if (!s.infra) return;
  const { id } = s.infra;
  const shim = await ctx.shim();
  await shim.delete({ id, force: true }).catch((err: Error & { kind?: string }) => {
    if (err.kind !== 'NotFound') throw err;
  });
  await unmount(path.join(infraBundle(s), 'rootfs'));
  await ctx.images.removeRootfs(id);
  fs.rmSync(infraBundle(s), { recursive: true, force: true });
}
