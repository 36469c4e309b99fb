/**
 * CreateContainer: the image's rootfs layer is prepared and overlay-mounted in a bundle, the OCI spec is
 * built from the CRI config and the image config (src/cri/container), and the shim creates the task with the
 * sandbox's runtime handler. Recorded as `creating` first, so a crash half-way is undone at the next start;
 * a failure undoes everything and leaves no record.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crashPoint } from '../../common/crash-point';
import { BerthError, invalid, notFound, precondition } from '../../common/errors';
import { newId } from '../../common/ids';
import { writeFileAtomic } from '../../common/atomic';
import { stringifyJson } from '../../common/json';
import { buildContainerSpec } from '../container/spec';
import { resolveInRoot } from '../container/in-root';
import { resolveUser } from '../container/user';
import { mountOverlay, unmount } from '../sandbox/host';
import { containerName, type ContainerRecord, type SandboxRecord } from '../store';
import type { ContainerConfig, CreateContainerRequest, CreateContainerResponse } from '../types';
import type { CgroupDriver, RuntimeContext } from './context';
import { containerEventStatuses } from './container-status';
import { sandboxShmDir } from './sandbox-paths';

export function validateContainerConfig(config: ContainerConfig | null): ContainerConfig {
  if (!config) throw invalid('config', 'is required');
  if (!config.metadata) throw invalid('config.metadata', 'is required');
  if (!config.metadata.name) throw invalid('config.metadata.name', 'is required');
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(config.metadata.name)) throw invalid('config.metadata.name', `"${config.metadata.name}" may hold only letters, digits, "_", "." and "-"`);
  if (!config.image?.image) throw invalid('config.image.image', 'an image reference is required');
  if (config.logPath) {
    if (path.isAbsolute(config.logPath)) throw invalid('config.log_path', `must be relative to the sandbox's log_directory, got "${config.logPath}"`);
    if (path.normalize(config.logPath).split(path.sep).includes('..')) throw invalid('config.log_path', `"${config.logPath}" leaves the sandbox's log directory`);
  }
  for (const [i, m] of (config.mounts ?? []).entries()) {
    if (m.image?.image) continue; // an image volume has no host path of its own
    if (!m.hostPath || !path.isAbsolute(m.hostPath)) throw invalid(`config.mounts[${i}].host_path`, `must be an absolute path, got "${m.hostPath}"`);
  }
  return config;
}

/** The cgroup of a container: below the pod's cgroup parent, in the driver's syntax. */
export function containerCgroupsPath(driver: CgroupDriver, parent: string, id: string): string {
  if (driver === 'systemd') return `${parent || 'system.slice'}:berth:${id}`;
  return path.posix.join(parent || '/berth', id);
}

export async function createContainer(ctx: RuntimeContext, req: CreateContainerRequest): Promise<CreateContainerResponse> {
  const config = validateContainerConfig(req.config);
  if (!req.podSandboxId) throw invalid('pod_sandbox_id', 'is required');
  const sandbox = ctx.sandboxes.find(req.podSandboxId);
  if (!sandbox) throw notFound(`pod sandbox "${req.podSandboxId}" not found`);
  if (sandbox.state !== 'ready') throw precondition(`pod sandbox ${sandbox.id} is not ready (state ${sandbox.state})`);
  const imageRef = config.image!.image;
  const image = ctx.images.runConfig(imageRef);
  if (!image) throw notFound(`config.image.image: image "${imageRef}" is not present on this node: pull it first`);
  const runtime = ctx.handlers.resolve(sandbox.runtimeHandler, 'runtime_handler');
  const id = newId();
  const name = containerName(config, sandbox.name);
  ctx.containers.names.reserve(name, id, 'container');
  const bundle = path.join(ctx.stateDir, 'containers', id);
  const logPath = config.logPath && sandbox.config.logDirectory ? path.join(sandbox.config.logDirectory, config.logPath) : '';
  const rec: ContainerRecord = {
    id, sandboxId: sandbox.id, name, config, imageId: image.id, imageRef, imageName: imageRef, state: 'creating',
    createdAt: '0', startedAt: '0', finishedAt: '0', exitCode: 0, reason: '', message: '', pid: 0, logPath, bundle, runtime,
    user: { uid: 0, gid: 0, supplementalGroups: [] }, resources: config.linux?.resources ?? null, stopSignal: image.stopSignal, volumes: [],
  };
  return ctx.locks.run(id, async () => {
    let shimCreated = false;
    try {
      ctx.containers.put(rec);
      const rootfs = path.join(bundle, 'rootfs');
      fs.mkdirSync(rootfs, { recursive: true, mode: 0o711 });
      await mountOverlay(rootfs, await ctx.images.prepareRootfs(image.id, id));
      crashPoint('container-create:mounted');
      const mounts = await mountImageVolumes(ctx, rec);
      const user = resolveUser(rootfs, image, config.linux?.securityContext ?? null);
      rec.user = { uid: user.uid, gid: user.gid, supplementalGroups: user.additionalGids };
      const { spec, warnings } = buildContainerSpec({
        id, sandboxId: sandbox.id, config: withResolvedHostPaths({ ...config, mounts }), sandboxConfig: req.sandboxConfig ?? sandbox.config, image, rootfs, user,
        namespaces: sandbox.namespaces, hostNetwork: sandbox.hostNetwork, hostIpc: sandbox.hostIpc, hostPid: sandbox.hostPid,
        sandboxFiles: sandboxFiles(sandbox),
        cgroupsPath: containerCgroupsPath(ctx.cgroupDriver, sandbox.cgroupParent, id),
        minOomScoreAdj: ctx.minOomScoreAdj,
      });
      for (const w of warnings) ctx.log.warn(w, { containerId: id });
      // The kubelet sends a (zero) limit per hugepage size; where berthd cannot manage hugetlb (cgroup v1 without
      // that hierarchy, as on hybrid hosts that moved it to v2), runc would refuse the container for it.
      if (!hugetlbManageable() && spec.linux?.resources?.hugepageLimits) {
        delete spec.linux.resources.hugepageLimits;
      }
      writeFileAtomic(path.join(bundle, 'config.json'), stringifyJson(spec), 0o600, { durable: false });
      const shim = await ctx.shim();
      shimCreated = true;
      const { pid } = await shim.create({ id, bundle, runtime, cgroupDriver: ctx.cgroupDriver, terminal: config.tty, stdin: config.stdin, stdinOnce: config.stdinOnce, logPath });
      crashPoint('container-create:task-created');
      rec.pid = pid;
      rec.state = 'created';
      rec.createdAt = String(BigInt(Date.now()) * 1_000_000n);
      ctx.containers.put(rec);
      ctx.log.info('container created', { containerId: id, name, sandboxId: sandbox.id, image: image.id });
      ctx.events.publish(id, 'CONTAINER_CREATED_EVENT', () => containerEventStatuses(ctx, rec));
      return { containerId: id };
    } catch (err) {
      if (shimCreated) await (await ctx.shim()).delete({ id, force: true }).catch(() => undefined);
      await undoBundle(ctx, rec).catch((e: unknown) => ctx.log.warn('undoing a failed create', { containerId: id, error: String(e) }));
      ctx.containers.delete(rec);
      if (err instanceof BerthError) throw err;
      throw new BerthError('Internal', `CreateContainer ${name}: ${(err as Error).message}`, { cause: err });
    }
  });
}

/** Unmounts and removes a container's bundle and writable layer (idempotent). */
export async function undoBundle(ctx: RuntimeContext, rec: ContainerRecord): Promise<void> {
  await unmount(path.join(rec.bundle, 'rootfs'), ...(rec.volumes ?? []).map((_, i) => volumeDir(rec, i)));
  for (const key of rec.volumes ?? []) await ctx.images.removeRootfs(key);
  await ctx.images.removeRootfs(rec.id);
  fs.rmSync(rec.bundle, { recursive: true, force: true });
}

let hugetlb: boolean | undefined;
function hugetlbManageable(): boolean {
  if (hugetlb === undefined) {
    const v2 = '/sys/fs/cgroup/cgroup.controllers';
    hugetlb = fs.existsSync(v2) ? fs.readFileSync(v2, 'utf8').split(/\s+/).includes('hugetlb') : fs.existsSync('/sys/fs/cgroup/hugetlb');
  }
  return hugetlb;
}

const volumeDir = (rec: ContainerRecord, i: number): string => path.join(rec.bundle, 'volumes', String(i));

/**
 * Image volumes (a CRI mount naming an image): each image is mounted read-only under the bundle (an overlay of
 * its layers alone) and bind-mounted from there, its `image_sub_path` resolved inside it. The record's config
 * keeps the mount as asked, with `image_ref` set to the image id, which ContainerStatus reports.
 */
async function mountImageVolumes(ctx: RuntimeContext, rec: ContainerRecord): Promise<ContainerConfig['mounts']> {
  const out: ContainerConfig['mounts'] = [];
  for (const [i, m] of rec.config.mounts.entries()) {
    if (!m.image?.image) {
      out.push(m);
      continue;
    }
    const f = `config.mounts[${i}]`;
    if (!m.readonly) throw invalid(`${f}.readonly`, 'an image volume must be read-only');
    const image = ctx.images.runConfig(m.image.image);
    if (!image) throw notFound(`${f}.image.image: image "${m.image.image}" is not present on this node: pull it first`);
    const key = `${rec.id}-v${i}`;
    const layers = await ctx.images.prepareRootfs(image.id, key);
    rec.volumes.push(key);
    ctx.containers.put(rec);
    const dir = volumeDir(rec, rec.volumes.length - 1);
    // overlayfs wants two lower layers when there is no upper one: an empty one at the bottom changes nothing.
    const empty = path.join(rec.bundle, 'volumes', 'empty');
    fs.mkdirSync(empty, { recursive: true, mode: 0o755 });
    await mountOverlay(dir, { lowerdirs: [...layers.lowerdirs, empty], readonly: true });
    let hostPath = dir;
    if (m.imageSubPath) {
      if (path.isAbsolute(m.imageSubPath) || path.normalize(m.imageSubPath).split(path.sep).includes('..')) {
        throw invalid(`${f}.image_sub_path`, `"${m.imageSubPath}" must be a relative path inside the image`);
      }
      hostPath = resolveInRoot(dir, m.imageSubPath);
      if (!fs.existsSync(hostPath)) throw invalid(`${f}.image_sub_path`, `"${m.imageSubPath}" does not exist in image ${image.id}`);
    }
    m.image = { ...m.image, imageRef: image.id };
    out.push({ ...m, hostPath, image: null });
  }
  return out;
}

function sandboxFiles(s: SandboxRecord): { hostname?: string; hosts?: string; resolvConf?: string; shm?: string } {
  return {
    hostname: path.join(s.dir, 'hostname'),
    hosts: path.join(s.dir, 'hosts'),
    resolvConf: path.join(s.dir, 'resolv.conf'),
    shm: s.hostIpc ? '/dev/shm' : sandboxShmDir(s),
  };
}

/**
 * Host paths as the kernel will see them: symlinks resolved (a bind mount of a symlink would mount its
 * target anyway, and the spec must name what is mounted); a missing one is created as a directory, as
 * containerd does.
 */
function withResolvedHostPaths(config: ContainerConfig): ContainerConfig {
  const mounts = (config.mounts ?? []).map((m, i) => {
    try {
      if (!fs.existsSync(m.hostPath)) fs.mkdirSync(m.hostPath, { recursive: true, mode: 0o755 });
      return { ...m, hostPath: fs.realpathSync(m.hostPath) };
    } catch (err) {
      throw invalid(`config.mounts[${i}].host_path`, `${m.hostPath}: ${(err as Error).message}`);
    }
  });
  return { ...config, mounts };
}
