/**
 * The switch's first step: the node's registry settings carried into berthd's config (issue 09, step 3), read
 * from the runtime kubelet leaves: Docker Engine's daemon.json and root's docker config (cri-dockerd), or
 * containerd's config.toml and its certs.d hosts.toml files. What the node's berthd config already says for
 * a host wins over what is carried. berthd is restarted by its service only when its config really changed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import type { NodeRuntime } from '../api/types';
import { writeBerthdConfig } from '../install/config';
import { readKubeletCgroupDriver } from '../install/kubelet-cgroup';
import { registriesFromContainerdConfig, registriesFromHostsToml } from '../migrate/registries-containerd';
import { registriesFromDocker, type CarriedRegistries } from '../migrate/registries-docker';
import type { MigrationContext } from './context';

const DEFAULT_CERTS_DIR = '/etc/containerd/certs.d';

function readFile(c: MigrationContext, hostPath: string): { file: string; text: string } | undefined {
  try {
    return { file: hostPath, text: fs.readFileSync(c.host.fromHostFile(hostPath), 'utf8') };
  } catch {
    return undefined;
  }
}

function merge(parts: readonly CarriedRegistries[]): CarriedRegistries {
  const registries: Record<string, Record<string, unknown>> = {};
  for (const p of parts) for (const [h, v] of Object.entries(p.registries)) registries[h] = { ...registries[h], ...v };
  return { registries: registries as CarriedRegistries['registries'], carried: parts.flatMap((p) => p.carried), notCarried: parts.flatMap((p) => p.notCarried) };
}

/** What the old runtime's files say about registries. */
export function readCarriedRegistries(c: MigrationContext, from: NodeRuntime): CarriedRegistries {
  if (from === 'cri-dockerd') return registriesFromDocker(readFile(c, '/etc/docker/daemon.json'), readFile(c, '/root/.docker/config.json'));
  if (from !== 'containerd') return { registries: {}, carried: [], notCarried: from === 'berthd' ? [] : [`kubelet's runtime ${from}: its registry settings are not read; configure berthd's registries by hand`] };
  const config = readFile(c, '/etc/containerd/config.toml');
  const parts: CarriedRegistries[] = config ? [registriesFromContainerdConfig(config.file, config.text)] : [];
  const certsDir = /^\s*config_path\s*=\s*["']([^"']+)["']/m.exec(config?.text ?? '')?.[1] ?? DEFAULT_CERTS_DIR;
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(c.host.fromHostFile(certsDir)).sort();
  } catch {
    // No certs.d: nothing configured there.
  }
  for (const d of dirs) {
    const f = readFile(c, path.join(certsDir, d, 'hosts.toml'));
    if (f) parts.push(registriesFromHostsToml(d, f.file, f.text));
  }
  return merge(parts);
}

/** Writes the carried registries into berthd's config under what it already has, and makes berthd take them. */
export async function carryRegistries(c: MigrationContext, carried: CarriedRegistries): Promise<void> {
  if (Object.keys(carried.registries).length === 0) return;
  let existing: Record<string, Record<string, unknown>> = {};
  try {
    const doc = parse(fs.readFileSync(c.layout.agent.config, 'utf8')) as { registries?: Record<string, Record<string, unknown>> } | null;
    existing = doc?.registries ?? {};
  } catch {
    // No config yet: the carried settings are all there is.
  }
  const registries: Record<string, unknown> = {};
  for (const h of new Set([...Object.keys(carried.registries), ...Object.keys(existing)])) {
    registries[h] = { ...(carried.registries as Record<string, object>)[h], ...existing[h] };
  }
  const written = writeBerthdConfig(c.layout, { cgroupDriver: readKubeletCgroupDriver(c.layout).driver, registries });
  if (written.changed) await c.service.ensure();
}
