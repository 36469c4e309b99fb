/**
 * Preflight checks of the node itself: what must hold for kubelet to come back on berthd (berthd healthy,
 * a kubelet that speaks CRI v1, the same cgroup driver, an endpoint configuration the switch can rewrite) and
 * what makes the switch slow or fragile (little disk for the images to pull again). Pure functions of
 * observed facts; each returns its findings, an Info one when all is well so that `kubectl berth doctor`
 * shows every check.
 */
import type { Finding, ObjectRef } from '../api/migration-types';
import type { CgroupDriver } from '../install/kubelet-cgroup';
import { runtimeOf } from '../node/kubelet';
import { KUBELET_DEFAULT_RUNTIME_ENDPOINT, type KubeletEndpoint } from './endpoint';
import { finding } from './finding';

export interface BerthdFacts {
  readonly installed: boolean;
  /** CRI Version and Status answered over berthd's socket. */
  readonly healthy: boolean;
  readonly version: string;
  /** Why it is unhealthy. */
  readonly message: string;
}

export interface CgroupDriverFacts {
  readonly kubelet: CgroupDriver;
  /** Where kubelet's came from (install/kubelet-cgroup.ts's `source`). */
  readonly source: string;
  /** What berthd is configured with, when it is. */
  readonly berthd?: CgroupDriver;
}

export interface ImageFsFacts {
  /** The filesystem berthd keeps images on (the host's path). */
  readonly path: string;
  readonly freeBytes: number;
  /** What the images of the node's pods take (node.status.images), which berthd pulls again. */
  readonly neededBytes?: number;
}

/** The kubelet minor versions Berth supports: from 1.24 (CRI v1 only, dockershim gone) to the newest tested. */
export const KUBELET_MIN_MINOR = 24;
export const KUBELET_MAX_TESTED_MINOR = 36;
export const DEFAULT_MIN_FREE_IMAGE_BYTES = 10 * 2 ** 30;

const nodeRef = (node: string): ObjectRef => ({ kind: 'Node', name: node });
const gib = (n: number): string => `${(n / 2 ** 30).toFixed(1)} GiB`;

export function checkBerthd(node: string, b: BerthdFacts): Finding[] {
  if (!b.installed) return [finding('BerthdHealth', 'Blocking', `berthd is not installed on node ${node}: berth-agent installs it before a migration can start`, [nodeRef(node)])];
  if (!b.healthy) return [finding('BerthdHealth', 'Blocking', `berthd on node ${node} is not healthy: ${b.message || 'no reason given'}`, [nodeRef(node)])];
  return [finding('BerthdHealth', 'Info', `berthd ${b.version} is healthy`, [nodeRef(node)])];
}

/** `v1.31.2`, `v1.28.3-eks-1234`, `v1.29.1+k3s1` → [1, 31]; undefined when it is not a version. */
export function parseKubeletMinor(version: string): readonly [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * Below 1.24 is the dockershim era: such a kubelet may not speak the CRI v1 API berthd serves (v1alpha2 only
 * before 1.23), so it is Blocking. Newer than tested is a Warning.
 */
export function checkKubeletVersion(node: string, version: string): Finding[] {
  const v = parseKubeletMinor(version);
  const obj = [nodeRef(node)];
  if (!v) return [finding('KubeletVersion', 'Warning', `cannot tell kubelet's version from ${JSON.stringify(version)}`, obj)];
  const [major, minor] = v;
  if (major < 1 || (major === 1 && minor < KUBELET_MIN_MINOR)) {
    return [finding('KubeletVersion', 'Blocking', `kubelet ${version} is older than 1.${KUBELET_MIN_MINOR}: berthd needs a kubelet that speaks the CRI v1 API (upgrade kubelet first)`, obj)];
  }
  if (major > 1 || minor > KUBELET_MAX_TESTED_MINOR) {
    return [finding('KubeletVersion', 'Warning', `kubelet ${version} is newer than the newest Berth is tested with (1.${KUBELET_MAX_TESTED_MINOR})`, obj)];
  }
  return [finding('KubeletVersion', 'Info', `kubelet ${version} speaks CRI v1`, obj)];
}

/** berthd pulls every image again: too little room makes pods fail to come back (image GC kicks in first). */
export function checkImageDisk(node: string, fsFacts: ImageFsFacts, minFreeBytes = DEFAULT_MIN_FREE_IMAGE_BYTES): Finding[] {
  const needed = Math.max(minFreeBytes, fsFacts.neededBytes ?? 0);
  const obj = [nodeRef(node)];
  const images = fsFacts.neededBytes === undefined ? '' : ` (the node's images take ${gib(fsFacts.neededBytes)})`;
  return fsFacts.freeBytes < needed
    ? [finding('ImageDiskSpace', 'Warning', `${fsFacts.path} has ${gib(fsFacts.freeBytes)} free, less than the ${gib(needed)} berthd needs to pull the node's images again${images}`, obj)]
    : [finding('ImageDiskSpace', 'Info', `${fsFacts.path} has ${gib(fsFacts.freeBytes)} free${images}`, obj)];
}

/** berthd must manage cgroups the way kubelet does, or kubelet refuses its pods' sandboxes. */
export function checkCgroupDriver(node: string, c: CgroupDriverFacts): Finding[] {
  const obj = [nodeRef(node)];
  if (c.berthd !== undefined && c.berthd !== c.kubelet) {
    return [finding('CgroupDriver', 'Blocking', `kubelet uses the ${c.kubelet} cgroup driver (${c.source}) but berthd is configured with ${c.berthd}`, obj)];
  }
  return [finding('CgroupDriver', 'Info', `kubelet uses the ${c.kubelet} cgroup driver (${c.source})${c.berthd ? '; berthd matches' : ''}`, obj)];
}

/**
 * Where kubelet's endpoint is set, each place listed for the switch to rewrite. A file the locator could not
 * parse is Blocking (the switch would have to rewrite it blind); an endpoint set nowhere, or a running kubelet
 * started with another than its files say, is a Warning.
 */
export function checkRuntimeEndpoint(node: string, e: KubeletEndpoint): Finding[] {
  const obj = [nodeRef(node)];
  const out = e.problems.map((p) => finding('RuntimeEndpoint', 'Blocking', `cannot read kubelet's configuration: ${p}`, obj));
  const files = e.settings.filter((s) => s.kind !== 'command-line');
  const places = files.map((s) => `${s.file} (${s.form === 'flag' ? '--container-runtime-endpoint' : 'containerRuntimeEndpoint'}=${s.value}${s.wins ? ', wins' : ''})`).join('; ');
  const endpoint = e.endpoint || KUBELET_DEFAULT_RUNTIME_ENDPOINT;
  if (files.length === 0) {
    out.push(finding('RuntimeEndpoint', 'Warning', `no file sets kubelet's runtime endpoint${e.running ? ` (it runs with --container-runtime-endpoint=${e.running} on its command line)` : `; it uses its default ${KUBELET_DEFAULT_RUNTIME_ENDPOINT}`}: the switch has to add the setting`, obj));
  } else {
    out.push(finding('RuntimeEndpoint', 'Info', `kubelet's runtime endpoint is ${endpoint} (${runtimeOf(endpoint)}), set in ${places}`, obj));
  }
  if (e.running !== undefined && e.endpoint !== '' && e.running !== e.endpoint) {
    out.push(finding('RuntimeEndpoint', 'Warning', `the running kubelet uses ${e.running} but its files say ${e.endpoint}: they changed since kubelet started`, obj));
  }
  if (runtimeOf(e.running ?? endpoint) === 'berthd') out.push(finding('RuntimeEndpoint', 'Info', `kubelet already uses berthd`, obj));
  return out;
}
