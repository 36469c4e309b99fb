/** `berthctl runp`, `pods`, `inspectp`, `stopp`, `rmp`: crictl's pod sandbox commands. */
import { BerthError, asBerthError, invalid } from '../../common/errors';
import { flagBool, flagString } from '../../common/args';
import type { ListPodSandboxResponse, PodSandbox, PodSandboxStateName, PodSandboxStatus, PodSandboxStatusResponse, RunPodSandboxResponse } from '../types';
import { during } from './client';
import { HELP_FLAG, outputFlag, outputFormat, type Command, type CommandContext } from './command';
import { loadPodConfig } from './configs';
import { ago, goMap, json, keyValueLines, protoJson, rfc3339Nano, table, truncatedId, yamlText } from './format';
import { flag, listOptions, listPods, printDocuments, statusDocument } from './listing';
import { parseDuration } from './pull';

const POD_STATE: Record<PodSandboxStateName, string> = { SANDBOX_READY: 'Ready', SANDBOX_NOTREADY: 'NotReady' };

/** A config file's error as crictl words it: the step, then why. */
export function loadFailure(step: string, err: unknown): BerthError {
  const be = asBerthError(err);
  return new BerthError(be.kind, `${step}: ${be.message}`, { cause: err });
}

export const runpCommand: Command = {
  name: 'runp',
  service: 'runtime',
  usage: 'berthctl runp [OPTIONS] POD-CONFIG.[json|yaml]',
  summary: 'Run a new pod',
  flags: [
    { name: 'runtime', short: 'r', kind: 'string', arg: 'HANDLER', help: 'runtime handler to use (the runtime defines which exist)' },
    { name: 'cancel-timeout', short: 'T', kind: 'string', arg: 'DURATION', help: 'give up on the request after this long (e.g. 30s)' },
    HELP_FLAG,
  ],
  async run({ client, args, stdout, stderr }) {
    if (args.positional.length !== 1) throw invalid('POD-CONFIG', 'runp takes exactly one pod config file');
    const timeout = flagString(args, 'cancel-timeout');
    let config;
    try {
      config = loadPodConfig(args.positional[0], (w) => stderr(`berthctl: warning: ${w}\n`));
    } catch (err) {
      throw loadFailure('load podSandboxConfig', err);
    }
    const req = { config, runtimeHandler: flagString(args, 'runtime') ?? '' };
    const res = await client.runtimeCall<unknown, RunPodSandboxResponse>('RunPodSandbox', req, timeout ? { timeoutMs: parseDuration(timeout, '--cancel-timeout') } : {});
    stdout(`${res.podSandboxId}\n`);
    return 0;
  },
};

function podsTable(pods: PodSandbox[], noTrunc: boolean): string {
  const rows = [['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT', 'RUNTIME']];
  for (const p of pods) {
    rows.push([
      noTrunc ? p.id : truncatedId(p.id, ''), ago(p.createdAt), POD_STATE[p.state] ?? p.state, p.metadata?.name ?? '', p.metadata?.namespace ?? '',
      String(p.metadata?.attempt ?? 0), p.runtimeHandler || '(default)',
    ]);
  }
  return table(rows);
}

export const podsCommand: Command = {
  name: 'pods',
  service: 'runtime',
  usage: 'berthctl pods [OPTIONS]',
  summary: 'List pods',
  flags: [
    flag.id('pod'), flag.name('pod'), flag.namespace, flag.state('pod'), flag.label, flag.quiet('list only pod IDs'),
    outputFlag('table', ['json', 'yaml', 'table']), flag.latest('pod'), flag.last('pod'), flag.noTrunc, HELP_FLAG,
  ],
  async run({ client, args, stdout }) {
    if (args.positional.length > 0) throw invalid(args.positional[0], 'pods takes no arguments');
    const format = outputFormat(args, 'table', ['json', 'yaml', 'table']);
    const pods = await during('list pod sandboxes', listPods(client, listOptions(args)));
    if (format !== 'table') {
      const doc: ListPodSandboxResponse = { items: pods };
      stdout(format === 'json' ? json(protoJson(doc)) : yamlText(protoJson(doc)));
    } else if (flagBool(args, 'quiet')) {
      for (const p of pods) stdout(`${p.id}\n`);
    } else {
      stdout(podsTable(pods, flagBool(args, 'no-trunc')));
    }
    return 0;
  },
};

/** A pod's status as crictl inspectp shows it: protojson, createdAt as a time. */
export function podStatusJson(s: PodSandboxStatus): unknown {
  return { ...(protoJson(s) as object), createdAt: rfc3339Nano(s.createdAt) };
}

function podStatusTable(r: PodSandboxStatusResponse, verbose: boolean): string {
  const s = r.status!;
  const lines = [`ID: ${s.id}`];
  if (s.metadata) {
    if (s.metadata.name) lines.push(`Name: ${s.metadata.name}`);
    if (s.metadata.uid) lines.push(`UID: ${s.metadata.uid}`);
    if (s.metadata.namespace) lines.push(`Namespace: ${s.metadata.namespace}`);
    lines.push(`Attempt: ${s.metadata.attempt}`);
  }
  lines.push(`Status: ${s.state}`, `Created: ${ago(s.createdAt)}`);
  if (s.network) {
    lines.push(`IP Addresses: ${s.network.ip}`);
    for (const ip of s.network.additionalIps) lines.push(`Additional IP: ${ip.ip}`);
  }
  lines.push(...keyValueLines('Labels', s.labels), ...keyValueLines('Annotations', s.annotations));
  if (verbose) lines.push(`Info: ${goMap(r.info)}`);
  return lines.join('\n') + '\n';
}

export const inspectpCommand: Command = {
  name: 'inspectp',
  service: 'runtime',
  usage: 'berthctl inspectp [OPTIONS] POD-ID [POD-ID...]',
  summary: 'Display the status of one or more pods',
  flags: [
    outputFlag('json', ['json', 'yaml', 'table']), flag.quiet('do not show verbose information'), flag.name('pod'), flag.namespace,
    flag.state('pod'), flag.label, flag.latest('pod'), flag.last('pod'), HELP_FLAG,
  ],
  async run({ client, args, stdout }) {
    const format = outputFormat(args, 'json', ['json', 'yaml', 'table']);
    let ids = args.positional;
    if (ids.length === 0) {
      // No ids: the pods the filter flags select (all of them without any).
      ids = (await during('listing pod sandboxes', listPods(client, listOptions(args)))).map((p) => p.id);
      if (ids.length === 0) throw invalid('POD-ID', 'No IDs provided or nothing found per filter');
    }
    const verbose = !flagBool(args, 'quiet');
    const docs: unknown[] = [];
    for (const id of ids) {
      const r = await during('get pod sandbox status', client.runtimeCall<unknown, PodSandboxStatusResponse>('PodSandboxStatus', { podSandboxId: id, verbose }));
      if (!r.status) throw new BerthError('Internal', `pod sandbox "${id}": the runtime returned no status`);
      if (format === 'table') stdout(podStatusTable(r, verbose));
      else docs.push(statusDocument(podStatusJson(r.status), r.info));
    }
    printDocuments(docs, format, stdout);
    return 0;
  },
};

export const stoppCommand: Command = {
  name: 'stopp',
  service: 'runtime',
  usage: 'berthctl stopp POD-ID [POD-ID...]',
  summary: 'Stop one or more running pods',
  flags: [HELP_FLAG],
  async run({ client, args, stdout }) {
    if (args.positional.length === 0) throw invalid('POD-ID', 'at least one pod id is required');
    for (const id of args.positional) {
      await during(`stopping the pod sandbox "${id}"`, client.runtimeCall('StopPodSandbox', { podSandboxId: id }));
      stdout(`Stopped sandbox ${id}\n`);
    }
    return 0;
  },
};

/** Ids given, or every one `list` finds with --all; undefined (after saying so) when --all finds none. */
export async function idsOrAll(ctx: CommandContext, what: string, list: () => Promise<string[]>): Promise<string[] | undefined> {
  const { args, stderr } = ctx;
  if (!flagBool(args, 'all')) {
    if (args.positional.length === 0) throw invalid(`${what.toUpperCase()}-ID`, `at least one ${what} id is required (or --all)`);
    return args.positional;
  }
  if (args.positional.length > 0) throw invalid('--all', `cannot specify ${what.toUpperCase()}-ID(s) when using --all`);
  const ids = await list();
  if (ids.length === 0) {
    stderr(`berthctl: No ${what}s to remove\n`);
    return undefined;
  }
  return ids;
}

export const rmpCommand: Command = {
  name: 'rmp',
  service: 'runtime',
  usage: 'berthctl rmp [OPTIONS] POD-ID [POD-ID...]',
  summary: 'Remove one or more pods',
  flags: [
    { name: 'force', short: 'f', kind: 'bool', help: 'stop the pod sandbox first if it is running' },
    { name: 'all', short: 'a', kind: 'bool', help: 'remove all pods' },
    HELP_FLAG,
  ],
  async run(ctx) {
    const { client, args, stdout, stderr } = ctx;
    const ids = await idsOrAll(ctx, 'pod', async () => (await client.runtimeCall<unknown, ListPodSandboxResponse>('ListPodSandbox', { filter: null })).items.map((p) => p.id));
    if (!ids) return 0;
    let failed = false;
    // One at a time, each failure reported and the rest still tried (crictl runs them in parallel and joins the errors).
    for (const id of ids) {
      try {
        const st = await during(`getting sandbox status of pod "${id}"`, client.runtimeCall<unknown, PodSandboxStatusResponse>('PodSandboxStatus', { podSandboxId: id, verbose: false }));
        if (st.status?.state === 'SANDBOX_READY') {
          if (!flagBool(args, 'force')) throw new BerthError('FailedPrecondition', `pod sandbox "${id}" is running, please stop it first`);
          await during(`stopping the pod sandbox "${id}" failed`, client.runtimeCall('StopPodSandbox', { podSandboxId: id }));
          stdout(`Stopped sandbox ${id}\n`);
        }
        await during(`removing the pod sandbox "${id}"`, client.runtimeCall('RemovePodSandbox', { podSandboxId: id }));
        stdout(`Removed sandbox ${id}\n`);
      } catch (err) {
        failed = true;
        stderr(`berthctl: ${asBerthError(err).message}\n`);
      }
    }
    return failed ? 1 : 0;
  },
};
