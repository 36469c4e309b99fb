/** `berthctl create`, `start`, `ps`, `inspect`, `stop`, `rm`: crictl's container commands. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, asBerthError, invalid } from '../../common/errors';
import { flagBool, flagString } from '../../common/args';
import type { Container, ContainerStateName, ContainerStatus, ContainerStatusResponse, CreateContainerResponse, ListContainersResponse } from '../types';
import { during, type CriClient } from './client';
import { HELP_FLAG, outputFlag, outputFormat, type Command } from './command';
import { loadContainerConfig, loadPodConfig } from './configs';
import { ZERO_TIME, ago, goMap, json, keyValueLines, protoJson, rfc3339Nano, table, truncatedId, yamlText } from './format';
import { POD_NAME_LABEL, POD_NAMESPACE_LABEL, flag, intFlag, listContainers, listOptions, printDocuments, statusDocument } from './listing';
import { idsOrAll, loadFailure } from './pods';
import { parseDuration } from './pull';

export const CONTAINER_STATE: Record<ContainerStateName, string> = {
  CONTAINER_CREATED: 'Created', CONTAINER_RUNNING: 'Running', CONTAINER_EXITED: 'Exited', CONTAINER_UNKNOWN: 'Unknown',
};

export const createCommand: Command = {
  name: 'create',
  service: 'runtime',
  usage: 'berthctl create [OPTIONS] POD-ID CONTAINER-CONFIG.[json|yaml] POD-CONFIG.[json|yaml]',
  summary: 'Create a new container',
  flags: [
    { name: 'cancel-timeout', short: 'T', kind: 'string', arg: 'DURATION', help: 'give up on the request after this long (e.g. 30s)' },
    HELP_FLAG,
  ],
  async run({ client, args, stdout, stderr }) {
    if (args.positional.length !== 3) throw invalid('ARGS', 'create takes POD-ID CONTAINER-CONFIG POD-CONFIG');
    const [podSandboxId, containerFile, podFile] = args.positional;
    const timeout = flagString(args, 'cancel-timeout');
    let config;
    let sandboxConfig;
    try {
      config = loadContainerConfig(containerFile);
      sandboxConfig = loadPodConfig(podFile, (w) => stderr(`berthctl: warning: ${w}\n`));
    } catch (err) {
      throw loadFailure('creating container', err);
    }
    const res = await client.runtimeCall<unknown, CreateContainerResponse>('CreateContainer', { podSandboxId, config, sandboxConfig }, timeout ? { timeoutMs: parseDuration(timeout, '--cancel-timeout') } : {});
    stdout(`${res.containerId}\n`);
    return 0;
  },
};

export const startCommand: Command = {
  name: 'start',
  service: 'runtime',
  usage: 'berthctl start CONTAINER-ID [CONTAINER-ID...]',
  summary: 'Start one or more created containers',
  flags: [HELP_FLAG],
  async run({ client, args, stdout }) {
    if (args.positional.length === 0) throw invalid('CONTAINER-ID', 'ID cannot be empty');
    for (const id of args.positional) {
      await during(`starting the container "${id}"`, client.runtimeCall('StartContainer', { containerId: id }));
      stdout(`${id}\n`);
    }
    return 0;
  },
};

/** The image column: an image id (what the kubelet stores) shortened like any id, a name as it is. */
function imageCell(image: string, noTrunc: boolean): string {
  if (noTrunc) return image;
  const m = /^(sha256|sha384|sha512):([a-f0-9]+)$/.exec(image);
  const hexLen = { sha256: 64, sha384: 96, sha512: 128 };
  return m && m[2].length === hexLen[m[1] as keyof typeof hexLen] ? truncatedId(image, `${m[1]}:`) : image;
}

export function containersTable(containers: Container[], noTrunc: boolean, nowMs = Date.now()): string {
  const rows = [['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD', 'NAMESPACE']];
  for (const c of containers) {
    rows.push([
      noTrunc ? c.id : truncatedId(c.id, ''), imageCell(c.image?.image ?? '', noTrunc), ago(c.createdAt, nowMs), CONTAINER_STATE[c.state] ?? c.state,
      c.metadata?.name ?? '', String(c.metadata?.attempt ?? 0), noTrunc ? c.podSandboxId : truncatedId(c.podSandboxId, ''),
      c.labels[POD_NAME_LABEL] ?? 'unknown', c.labels[POD_NAMESPACE_LABEL] ?? 'unknown',
    ]);
  }
  return table(rows);
}

const ALL_FLAG = { name: 'all', short: 'a', kind: 'bool', help: 'show all containers (default: running ones)' } as const;

export const psCommand: Command = {
  name: 'ps',
  service: 'runtime',
  usage: 'berthctl ps [OPTIONS]',
  summary: 'List containers',
  flags: [
    flag.id('container'), flag.name('container'), flag.pod, flag.state('container'), flag.label, flag.quiet('only display container IDs'),
    outputFlag('table', ['json', 'yaml', 'table']), ALL_FLAG, flag.latest('container (includes all states)'), flag.last('container'),
    flag.noTrunc, flag.namespace, HELP_FLAG,
  ],
  async run({ client, args, stdout }) {
    if (args.positional.length > 0) throw invalid(args.positional[0], 'ps takes no arguments');
    const format = outputFormat(args, 'table', ['json', 'yaml', 'table']);
    const containers = await during('list containers', listContainers(client, listOptions(args)));
    if (format !== 'table') {
      const doc: ListContainersResponse = { containers };
      stdout(format === 'json' ? json(protoJson(doc)) : yamlText(protoJson(doc)));
    } else if (flagBool(args, 'quiet')) {
      for (const c of containers) stdout(`${c.id}\n`);
    } else {
      stdout(containersTable(containers, flagBool(args, 'no-trunc')));
    }
    return 0;
  },
};

/** A container's status as crictl inspect shows it: protojson, its three times as times (zero when not yet). */
export function containerStatusJson(s: ContainerStatus): unknown {
  const started = s.state !== 'CONTAINER_CREATED';
  const finished = s.state === 'CONTAINER_EXITED' || (s.state === 'CONTAINER_UNKNOWN' && BigInt(s.finishedAt) > 0n);
  return {
    ...(protoJson(s) as object),
    createdAt: rfc3339Nano(s.createdAt),
    startedAt: started ? rfc3339Nano(s.startedAt) : ZERO_TIME,
    finishedAt: finished ? rfc3339Nano(s.finishedAt) : ZERO_TIME,
  };
}

function containerStatusTable(r: ContainerStatusResponse, verbose: boolean): string {
  const s = r.status!;
  const lines = [`ID: ${s.id}`];
  if (s.metadata?.name) lines.push(`Name: ${s.metadata.name}`);
  if (s.metadata?.attempt) lines.push(`Attempt: ${s.metadata.attempt}`);
  lines.push(`State: ${s.state}`, `Created: ${ago(s.createdAt)}`);
  if (s.state !== 'CONTAINER_CREATED') lines.push(`Started: ${ago(s.startedAt)}`);
  if (s.state === 'CONTAINER_EXITED') {
    if (BigInt(s.finishedAt) > 0n) lines.push(`Finished: ${ago(s.finishedAt)}`);
    lines.push(`Exit Code: ${s.exitCode}`);
  }
  lines.push(...keyValueLines('Labels', s.labels), ...keyValueLines('Annotations', s.annotations));
  if (verbose) lines.push(`Info: ${goMap(r.info)}`);
  return lines.join('\n') + '\n';
}

export const inspectCommand: Command = {
  name: 'inspect',
  service: 'runtime',
  usage: 'berthctl inspect [OPTIONS] CONTAINER-ID [CONTAINER-ID...]',
  summary: 'Display the status of one or more containers',
  flags: [
    outputFlag('json', ['json', 'yaml', 'table']), flag.quiet('do not show verbose information'), flag.name('container'), flag.namespace, flag.pod,
    flag.state('container'), flag.label, flag.latest('container (includes all states)'), flag.last('container'), ALL_FLAG, HELP_FLAG,
  ],
  async run({ client, args, stdout }) {
    const format = outputFormat(args, 'json', ['json', 'yaml', 'table']);
    let ids = args.positional;
    if (ids.length === 0) {
      ids = (await during('listing containers', listContainers(client, listOptions(args)))).map((c) => c.id);
      if (ids.length === 0) throw invalid('CONTAINER-ID', 'No IDs provided or nothing found per filter');
    }
    const verbose = !flagBool(args, 'quiet');
    const docs: unknown[] = [];
    for (const id of ids) {
      const r = await during('get container status', client.runtimeCall<unknown, ContainerStatusResponse>('ContainerStatus', { containerId: id, verbose }));
      if (!r.status) throw new BerthError('Internal', `container "${id}": the runtime returned no status`);
      if (format === 'table') stdout(containerStatusTable(r, verbose));
      else docs.push(statusDocument(containerStatusJson(r.status), r.info));
    }
    printDocuments(docs, format, stdout);
    return 0;
  },
};

/** StopContainer, whose deadline is the grace period on top of the usual one (as crictl's client does). */
function stopContainer(client: CriClient, id: string, timeoutSec: number): Promise<unknown> {
  return client.runtimeCall('StopContainer', { containerId: id, timeout: timeoutSec }, { timeoutMs: client.callTimeoutMs + timeoutSec * 1000 });
}

export const stopCommand: Command = {
  name: 'stop',
  service: 'runtime',
  usage: 'berthctl stop [OPTIONS] CONTAINER-ID [CONTAINER-ID...]',
  summary: 'Stop one or more running containers',
  flags: [
    { name: 'timeout', short: 't', kind: 'string', arg: 'SECONDS', help: 'seconds to wait before killing the container after a graceful stop' },
    { name: 'all', short: 'a', kind: 'bool', help: 'stop all running containers' },
    HELP_FLAG,
  ],
  async run({ client, args, stdout }) {
    const timeout = intFlag(args, 'timeout');
    let ids = args.positional;
    if (flagBool(args, 'all')) {
      if (ids.length > 0) throw invalid('--all', 'cannot specify CONTAINER-ID(s) when using --all');
      ids = (await during('listing containers', listContainers(client, { ...listOptions(args), state: 'running' }))).map((c) => c.id);
      if (ids.length === 0) {
        stdout('No running containers found.\n');
        return 0;
      }
    } else if (ids.length === 0) {
      throw invalid('CONTAINER-ID', 'you must specify at least one CONTAINER-ID or use --all');
    }
    for (const id of ids) {
      await during(`stopping the container "${id}"`, stopContainer(client, id, timeout));
      stdout(`${id}\n`);
    }
    return 0;
  },
};

/** The log file and its rotations (`<log>.<anything>`), which crictl rm deletes with the container. */
function removeLogs(logPath: string, id: string, stderr: (s: string) => void): void {
  const dir = path.dirname(logPath);
  const base = path.basename(logPath);
  let rotations: string[] = [];
  try {
    rotations = fs.readdirSync(dir).filter((n) => n.startsWith(`${base}.`)).map((n) => path.join(dir, n));
  } catch {
    // no directory: nothing rotated
  }
  for (const f of [...rotations, logPath]) {
    try {
      fs.rmSync(f);
    } catch (err) {
      stderr(`berthctl: removing log file ${f} for container "${id}" failed: ${(err as Error).message}\n`);
    }
  }
}

export const rmCommand: Command = {
  name: 'rm',
  service: 'runtime',
  usage: 'berthctl rm [OPTIONS] CONTAINER-ID [CONTAINER-ID...]',
  summary: 'Remove one or more containers',
  flags: [
    { name: 'force', short: 'f', kind: 'bool', help: 'stop the container first if it is running' },
    { name: 'keep-logs', short: 'k', kind: 'bool', help: 'keep the container log file and its rotations' },
    { name: 'all', short: 'a', kind: 'bool', help: 'remove all containers' },
    HELP_FLAG,
  ],
  async run(ctx) {
    const { client, args, stdout, stderr } = ctx;
    const ids = await idsOrAll(ctx, 'container', async () => (await client.runtimeCall<unknown, ListContainersResponse>('ListContainers', { filter: null })).containers.map((c) => c.id));
    if (!ids) return 0;
    let failed = false;
    for (const id of ids) {
      try {
        const st = await during(`getting container status "${id}"`, client.runtimeCall<unknown, ContainerStatusResponse>('ContainerStatus', { containerId: id, verbose: false }));
        if (st.status?.state === 'CONTAINER_RUNNING') {
          if (!flagBool(args, 'force')) throw new BerthError('FailedPrecondition', `container "${id}" is running, please stop it first`);
          await during(`stopping the container "${id}"`, stopContainer(client, id, 0));
          stdout(`${id}\n`);
        }
        await during(`removing container "${id}"`, client.runtimeCall('RemoveContainer', { containerId: id }));
        stdout(`${id}\n`);
        if (!flagBool(args, 'keep-logs') && st.status?.logPath) removeLogs(st.status.logPath, id, stderr);
      } catch (err) {
        failed = true;
        stderr(`berthctl: ${asBerthError(err).message}\n`);
      }
    }
    return failed ? 1 : 0;
  },
};
