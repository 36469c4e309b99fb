/**
 * RunPodSandbox, by default without a pause process: the pod's network, IPC and UTS namespaces are created and
 * pinned by bind mounts under the sandbox's directory (a PID namespace, when the pod shares one, is held by a
 * tiny holder process); hostname, hosts and resolv.conf files are written for the containers to bind-mount; CNI
 * attaches the network namespace. With `sandbox.pauseImage` configured, an infra container of that image then
 * joins the namespaces (sandbox-infra.ts). The record is written first as `creating`, so a crash half-way is torn
 * down at the next start; a failure here tears down what was done and leaves no record.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crashPoint } from '../../common/crash-point';
import type { ImageRunConfig } from '../../image/api';
import { BerthError, invalid } from '../../common/errors';
import { newId } from '../../common/ids';
import { secondsSince } from '../observability/observer';
import { hostsFile, hostnameFile, resolvConf } from '../sandbox/files';
import { mountTmpfs, pinNamespaces, startPidHolder } from '../sandbox/host';
import { sandboxName, type SandboxRecord } from '../store';
import type { PodSandboxConfig, RunPodSandboxRequest, RunPodSandboxResponse } from '../types';
import { nowNs, type RuntimeContext } from './context';
import { ensurePauseImage, startInfra } from './sandbox-infra';
import { sandboxNsDir, sandboxShmDir } from './sandbox-paths';
import { releaseSandbox, removeSandboxDir } from './sandbox-teardown';

/** kubelet's default /dev/shm size (64 MiB), as containerd and docker mount it. */
const SHM_BYTES = 64 * 1024 * 1024;

export function validateSandboxConfig(config: PodSandboxConfig | null): PodSandboxConfig {
  if (!config) throw invalid('config', 'is required');
  const m = config.metadata;
  if (!m) throw invalid('config.metadata', 'is required');
  for (const k of ['name', 'namespace', 'uid'] as const) if (!m[k]) throw invalid(`config.metadata.${k}`, 'is required');
  if (config.logDirectory && !path.isAbsolute(config.logDirectory)) throw invalid('config.log_directory', `must be an absolute path, got "${config.logDirectory}"`);
  if (config.hostname && !/^[a-zA-Z0-9]([-a-zA-Z0-9.]{0,62})?$/.test(config.hostname)) throw invalid('config.hostname', `"${config.hostname}" is not a valid host name`);
  for (const [i, p] of (config.portMappings ?? []).entries()) {
    if (p.containerPort < 0 || p.containerPort > 65535) throw invalid(`config.port_mappings[${i}].container_port`, `${p.containerPort} is not a port`);
    if (p.hostPort < 0 || p.hostPort > 65535) throw invalid(`config.port_mappings[${i}].host_port`, `${p.hostPort} is not a port`);
  }
  const userns = config.linux?.securityContext?.namespaceOptions?.usernsOptions;
  const uf = 'config.linux.security_context.namespace_options.userns_options';
  if (userns && (userns.mode === 'CONTAINER' || userns.mode === 'TARGET')) throw invalid(`${uf}.mode`, `${userns.mode} is not supported for user namespaces (use POD or NODE)`);
  if (userns && userns.mode === 'POD') {
    // As the kubelet makes them: one range each, mapping the container's root (containerd refuses others too).
    for (const [key, list] of [['uids', userns.uids], ['gids', userns.gids]] as const) {
      if (list.length !== 1) throw invalid(`${uf}.${key}`, `mode POD needs exactly one mapping, got ${list.length}`);
      if (list[0].containerId !== 0) throw invalid(`${uf}.${key}[0].container_id`, `the mapping must start at container id 0, got ${list[0].containerId}`);
      if (list[0].length === 0) throw invalid(`${uf}.${key}[0].length`, 'must be at least 1');
    }
  }
  return config;
}

export async function runPodSandbox(ctx: RuntimeContext, req: RunPodSandboxRequest): Promise<RunPodSandboxResponse> {
  const start = process.hrtime.bigint();
  const config = validateSandboxConfig(req.config);
  ctx.handlers.resolve(req.runtimeHandler, 'runtime_handler'); // an unknown handler fails before anything is made
  const pause = ctx.pauseImage ? await ensurePauseImage(ctx) : undefined; // so does a pause image that cannot be pulled
  const id = newId();
  const name = sandboxName(config);
  ctx.sandboxes.names.reserve(name, id, 'pod sandbox');
  const nsOpts = config.linux?.securityContext?.namespaceOptions ?? null;
  const rec: SandboxRecord = {
    id, name, config, runtimeHandler: req.runtimeHandler, state: 'creating', createdAt: nowNs(),
    dir: path.join(ctx.stateDir, 'sandboxes', id), namespaces: {},
    hostNetwork: nsOpts?.network === 'NODE', hostIpc: nsOpts?.ipc === 'NODE', hostPid: nsOpts?.pid === 'NODE',
    ips: [], network: '', cgroupParent: config.linux?.cgroupParent ?? '',
  };
  return ctx.locks.run(id, async () => {
    try {
      ctx.sandboxes.put(rec);
      await setUp(ctx, rec, pause);
      rec.state = 'ready';
      ctx.sandboxes.put(rec);
      ctx.log.info('pod sandbox ready', { sandboxId: id, name, ips: rec.ips, runtimeHandler: rec.runtimeHandler });
      ctx.observer.podReady(secondsSince(start));
      return { podSandboxId: id };
    } catch (err) {
      await releaseSandbox(ctx, rec).catch(() => undefined);
      removeSandboxDir(rec);
      ctx.sandboxes.delete(rec);
      if (err instanceof BerthError) throw err;
      throw new BerthError('Internal', `RunPodSandbox ${name}: ${(err as Error).message}`, { cause: err });
    }
  });
}

async function setUp(ctx: RuntimeContext, rec: SandboxRecord, pause: ImageRunConfig | undefined): Promise<void> {
  const { config } = rec;
  fs.mkdirSync(rec.dir, { recursive: true, mode: 0o711 });
  // As containerd: no hostname asked for (the kubelet always sends one) → the node's.
  const hostname = rec.hostNetwork || !config.hostname ? os.hostname() : config.hostname;
  const userns = config.linux?.securityContext?.namespaceOptions?.usernsOptions;
  const pinned = await pinNamespaces(sandboxNsDir(rec), {
    net: !rec.hostNetwork,
    ipc: !rec.hostIpc,
    uts: !rec.hostNetwork,
    hostname: rec.hostNetwork ? undefined : hostname,
    userns: userns?.mode === 'POD' ? { uidMappings: userns.uids, gidMappings: userns.gids } : undefined,
  });
  rec.namespaces = { network: pinned.net, ipc: pinned.ipc, uts: pinned.uts, user: pinned.user };
  ctx.sandboxes.put(rec);
  crashPoint('sandbox-run:pinned');
  // With an infra container, it is the pod's PID 1 instead of the holder.
  if (!pause && !rec.hostPid && config.linux?.securityContext?.namespaceOptions?.pid === 'POD') {
    const pid = await startPidHolder(sandboxNsDir(rec));
    rec.namespaces.pid = `/proc/${pid}/ns/pid`;
    ctx.sandboxes.put(rec);
  }
  if (!rec.hostIpc) await mountTmpfs(sandboxShmDir(rec), { sizeBytes: SHM_BYTES, mode: 0o1777 });

  fs.writeFileSync(path.join(rec.dir, 'hostname'), hostnameFile(hostname), { mode: 0o644 });
  fs.writeFileSync(path.join(rec.dir, 'resolv.conf'), resolvConf(config.dnsConfig, readHostFile('/etc/resolv.conf')), { mode: 0o644 });
  if (!rec.hostNetwork) {
    const net = await ctx.network.attach(rec.id, rec.namespaces.network!, config);
    crashPoint('sandbox-run:attached');
    rec.network = net.network;
    rec.ips = net.ips;
    ctx.sandboxes.put(rec);
  }
  fs.writeFileSync(path.join(rec.dir, 'hosts'), rec.hostNetwork ? readHostFile('/etc/hosts') : hostsFile(hostname, rec.ips), { mode: 0o644 });
  if (pause) {
    await startInfra(ctx, rec, pause);
    crashPoint('sandbox-run:infra-started');
  }
}

function readHostFile(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
