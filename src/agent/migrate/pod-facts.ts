/**
 * The few facts about a pod that preflight looks at, read from the API server's JSON for the pods bound to
 * the node: its hostPath volumes and which containers mount them, privileged containers and their images,
 * its owner, and whether it is a mirror pod. Parsed once here so that the checks are plain functions over
 * typed values; a pod the API server sent is valid, so only the shape of what is read is checked.
 */
import type { ObjectRef } from '../api/migration-types';
import { array, at, boolean, item, object, optional, string, type JsonObject } from '../api/read';

/** kubelet's annotation on the API copy of a static pod. */
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

export interface OwnerRef {
  readonly kind: string;
  readonly name: string;
}

export interface ContainerFacts {
  readonly name: string;
  readonly image: string;
  readonly privileged: boolean;
  /** Volume name → where this container mounts it. */
  readonly mounts: ReadonlyMap<string, string>;
}

export interface PodFacts {
  readonly namespace: string;
  readonly name: string;
  /** The controller owner (or the first owner when none is marked controller). */
  readonly owner?: OwnerRef;
  readonly mirror: boolean;
  readonly phase: string;
  /** Volume name → hostPath path. */
  readonly hostPaths: ReadonlyMap<string, string>;
  /** It has an emptyDir volume, whose data a drain deletes. */
  readonly emptyDir: boolean;
  /** Init, regular and ephemeral containers alike: any of them can reach the socket. */
  readonly containers: readonly ContainerFacts[];
}

const list = (v: unknown, field: string): readonly unknown[] => optional(v, (x) => array(x, field)) ?? [];

function parseOwner(meta: JsonObject): OwnerRef | undefined {
  const owners = list(meta.ownerReferences, 'metadata.ownerReferences').map((x, i) => object(x, item('metadata.ownerReferences', i)));
  const o = owners.find((x) => x.controller === true) ?? owners[0];
  return o ? { kind: string(o.kind, 'metadata.ownerReferences.kind'), name: string(o.name, 'metadata.ownerReferences.name') } : undefined;
}

function parseContainers(spec: JsonObject): ContainerFacts[] {
  return (['initContainers', 'containers', 'ephemeralContainers'] as const).flatMap((key) =>
    list(spec[key], at('spec', key)).map((x, i) => {
      const f = item(at('spec', key), i);
      const c = object(x, f);
      const sc = optional(c.securityContext, (s) => object(s, at(f, 'securityContext')));
      const mounts = new Map<string, string>();
      list(c.volumeMounts, at(f, 'volumeMounts')).forEach((m, j) => {
        const vm = object(m, item(at(f, 'volumeMounts'), j));
        mounts.set(string(vm.name, 'volumeMounts.name'), string(vm.mountPath, 'volumeMounts.mountPath'));
      });
      return {
        name: string(c.name, at(f, 'name')),
        image: optional(c.image, (im) => string(im, at(f, 'image'))) ?? '',
        privileged: optional(sc?.privileged, (p) => boolean(p, at(f, 'securityContext.privileged'))) ?? false,
        mounts,
      };
    }));
}

/** One pod from the API server (core/v1 Pod JSON). */
export function parsePodFacts(v: unknown): PodFacts {
  const o = object(v, '');
  const meta = object(o.metadata, 'metadata');
  const spec = optional(o.spec, (x) => object(x, 'spec')) ?? {};
  const status = optional(o.status, (x) => object(x, 'status'));
  const annotations = optional(meta.annotations, (x) => object(x, 'metadata.annotations')) ?? {};
  const hostPaths = new Map<string, string>();
  let emptyDir = false;
  list(spec.volumes, 'spec.volumes').forEach((x, i) => {
    const vol = object(x, item('spec.volumes', i));
    if (vol.emptyDir !== undefined && vol.emptyDir !== null) emptyDir = true;
    const hp = optional(vol.hostPath, (h) => object(h, at(item('spec.volumes', i), 'hostPath')));
    if (hp) hostPaths.set(string(vol.name, at(item('spec.volumes', i), 'name')), string(hp.path, at(item('spec.volumes', i), 'hostPath.path')));
  });
  const owner = parseOwner(meta);
  return {
    namespace: string(meta.namespace, 'metadata.namespace', { nonEmpty: true }),
    name: string(meta.name, 'metadata.name', { nonEmpty: true }),
    ...(owner ? { owner } : {}),
    mirror: annotations[MIRROR_ANNOTATION] !== undefined,
    phase: optional(status?.phase, (x) => string(x, 'status.phase')) ?? 'Pending',
    hostPaths,
    containers: parseContainers(spec),
    emptyDir,
  };
}

/** The pod and its owner, as a finding's objects. */
export function podObjects(p: PodFacts): ObjectRef[] {
  return [{ kind: 'Pod', namespace: p.namespace, name: p.name }, ...(p.owner ? [{ kind: p.owner.kind, namespace: p.namespace, name: p.owner.name }] : [])];
}

/**
 * `ns/name`, with its owner: a ReplicaSet is named as such (the Deployment above it is resolved by the caller
 * that has the API at hand, not here).
 */
export const podLabel = (p: PodFacts): string => `pod ${p.namespace}/${p.name}${p.owner ? ` (owned by ${p.owner.kind} ${p.owner.name})` : ' (no owner)'}`;

/** Finished pods hold no mount and are not evicted: the checks skip them. */
export const isLive = (p: PodFacts): boolean => p.phase !== 'Succeeded' && p.phase !== 'Failed';
