/**
 * What `ps`, `pods`, `inspect`, `inspectp` and `stats` share with crictl: the filter flags, the requests they
 * become (state and labels go to the runtime; name and namespace regular expressions, newest-first order and
 * --latest/--last are applied here), and the verbose status documents of inspect and inspectp.
 */
import { invalid } from '../../common/errors';
import { flagBool, flagList, flagString, type FlagSpec, type ParsedArgs } from '../../common/args';
import type { Container, ContainerStateName, ListContainersResponse, ListPodSandboxResponse, PodSandbox, PodSandboxStateName } from '../types';
import type { CriClient } from './client';
import { during } from './client';
import { infoValue, json, sortedKeys, yamlText } from './format';

export const POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
export const POD_NAME_LABEL = 'io.kubernetes.pod.name';

export const flag = {
  id: (what: string): FlagSpec => ({ name: 'id', kind: 'string', arg: 'ID', help: `filter by ${what} id` }),
  pod: { name: 'pod', short: 'p', kind: 'string', arg: 'POD-ID', help: 'filter by pod id' } as FlagSpec,
  name: (what: string): FlagSpec => ({ name: 'name', kind: 'string', arg: 'REGEXP', help: `filter by ${what} name regular expression pattern` }),
  namespace: { name: 'namespace', kind: 'string', arg: 'REGEXP', help: 'filter by pod namespace regular expression pattern' } as FlagSpec,
  state: (what: string): FlagSpec => ({ name: 'state', short: 's', kind: 'string', arg: 'STATE', help: `filter by ${what} state` }),
  label: { name: 'label', kind: 'list', arg: 'KEY=VALUE', help: 'filter by key=value label (repeatable)' } as FlagSpec,
  latest: (what: string): FlagSpec => ({ name: 'latest', short: 'l', kind: 'bool', help: `show the most recently created ${what}` }),
  last: (what: string): FlagSpec => ({ name: 'last', short: 'n', kind: 'string', arg: 'N', help: `show the last N recently created ${what}s (0: unlimited)` }),
  quiet: (help: string): FlagSpec => ({ name: 'quiet', short: 'q', kind: 'bool', help }),
  noTrunc: { name: 'no-trunc', kind: 'bool', help: 'show output without truncating the ID' } as FlagSpec,
};

/** `--label k=v` flags as a label selector (crictl rejects anything but exactly one `=`). */
export function parseLabels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const pair = v.split('=');
    if (pair.length !== 2) throw invalid('--label', `incorrectly specified label: ${v}`);
    out[pair[0]] = pair[1];
  }
  return out;
}

export function intFlag(args: ParsedArgs, name: string, def = 0): number {
  const v = flagString(args, name);
  if (v === undefined) return def;
  if (!/^-?\d+$/.test(v)) throw invalid(`--${name}`, `"${v}" is not an integer`);
  return Number(v);
}

function regex(pattern: string | undefined, field: string): RegExp | undefined {
  if (!pattern) return undefined;
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw invalid(field, `invalid regular expression "${pattern}": ${(err as Error).message}`);
  }
}

export interface ListOptions {
  id?: string;
  podId?: string;
  name?: RegExp;
  namespace?: RegExp;
  state?: string;
  labels: Record<string, string>;
  all: boolean;
  latest: boolean;
  last: number;
}

export function listOptions(args: ParsedArgs): ListOptions {
  return {
    id: flagString(args, 'id') || undefined,
    podId: flagString(args, 'pod') || undefined,
    name: regex(flagString(args, 'name'), '--name'),
    namespace: regex(flagString(args, 'namespace'), '--namespace'),
    state: flagString(args, 'state') || undefined,
    labels: parseLabels(flagList(args, 'label')),
    all: flagBool(args, 'all'),
    latest: flagBool(args, 'latest'),
    last: intFlag(args, 'last'),
  };
}

/** How many of `total` --latest / --last keep. */
export function truncateCount(total: number, latest: boolean, last: number): number {
  let n = total;
  if (latest) n = 1;
  if (last > 0) n = last;
  return Math.min(n, total);
}

const newestFirst = (a: { createdAt: string }, b: { createdAt: string }) => {
  const d = BigInt(b.createdAt) - BigInt(a.createdAt);
  return d > 0n ? 1 : d < 0n ? -1 : 0;
};

const CONTAINER_STATES: Record<string, ContainerStateName> = {
  created: 'CONTAINER_CREATED', running: 'CONTAINER_RUNNING', exited: 'CONTAINER_EXITED', unknown: 'CONTAINER_UNKNOWN',
};

/** The ContainerFilter crictl sends: running only unless --all, --state, --latest or --last say otherwise. */
export function containerFilter(o: ListOptions): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  if (o.id) filter.id = o.id;
  if (o.podId) filter.podSandboxId = o.podId;
  if (!o.all && !o.state) filter.state = { state: 'CONTAINER_RUNNING' };
  if (o.state) {
    const s = CONTAINER_STATES[o.state.toLowerCase()];
    if (!s) throw invalid('--state', 'should be one of created, running, exited or unknown');
    filter.state = { state: s };
  }
  if (o.latest || o.last > 0) delete filter.state;
  if (Object.keys(o.labels).length) filter.labelSelector = o.labels;
  return filter;
}

export async function listContainers(client: CriClient, o: ListOptions): Promise<Container[]> {
  const filter = containerFilter(o);
  const res = await during('call list containers RPC', client.runtimeCall<unknown, ListContainersResponse>('ListContainers', { filter }));
  const kept = res.containers.filter((c) => c.metadata && (!o.name || o.name.test(c.metadata.name)) && (!o.namespace || o.namespace.test(c.labels[POD_NAMESPACE_LABEL] ?? 'unknown')));
  kept.sort(newestFirst);
  return kept.slice(0, truncateCount(kept.length, o.latest, o.last));
}

const POD_STATES: Record<string, PodSandboxStateName> = { ready: 'SANDBOX_READY', notready: 'SANDBOX_NOTREADY' };

export function podFilter(o: ListOptions): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  if (o.id) filter.id = o.id;
  if (o.state) {
    const s = POD_STATES[o.state.toLowerCase()];
    if (!s) throw invalid('--state', 'should be ready or notready');
    filter.state = { state: s };
  }
  if (Object.keys(o.labels).length) filter.labelSelector = o.labels;
  return filter;
}

export async function listPods(client: CriClient, o: ListOptions): Promise<PodSandbox[]> {
  const filter = podFilter(o);
  const res = await during('call list sandboxes RPC', client.runtimeCall<unknown, ListPodSandboxResponse>('ListPodSandbox', { filter }));
  const kept = res.items.filter((p) => p.metadata && (!o.name || o.name.test(p.metadata.name)) && (!o.namespace || o.namespace.test(p.metadata.namespace)));
  kept.sort(newestFirst);
  return kept.slice(0, truncateCount(kept.length, o.latest, o.last));
}

/**
 * The document crictl prints for one verbose status: `status` beside every `info` entry (containerd puts its
 * whole verbose state under one key, `info`), keys sorted at every level.
 */
export function statusDocument(status: unknown, info: Record<string, string>): unknown {
  const doc: Record<string, unknown> = { status };
  for (const [k, v] of Object.entries(info)) doc[k] = infoValue(v);
  return sortedKeys(doc);
}

/** One document printed as it is, several as a list (crictl's "old behavior" for a single id). */
export function printDocuments(docs: unknown[], format: string, stdout: (s: string) => void): void {
  if (docs.length === 0) return;
  const v = docs.length === 1 ? docs[0] : docs;
  stdout(format === 'yaml' ? yamlText(v) : json(v));
}
