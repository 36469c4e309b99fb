/** `berthctl stats`: ListContainerStats, and CPU % from two samples taken --seconds apart, as crictl does. */
import { BerthError, invalid } from '../../common/errors';
import { flagBool, flagList, flagString } from '../../common/args';
import type { ContainerStats, ListContainerStatsResponse } from '../types';
import type { CriClient } from './client';
import { HELP_FLAG, outputFlag, outputFormat, type Command } from './command';
import { humanSize, json, protoJson, table, truncatedId, yamlText } from './format';
import { flag, intFlag, parseLabels } from './listing';

const num = (v: { value: string } | null | undefined): bigint => BigInt(v?.value ?? '0');

async function sample(client: CriClient, filter: Record<string, unknown>): Promise<ContainerStats[]> {
  const res = await client.runtimeCall<unknown, ListContainerStatsResponse>('ListContainerStats', { filter });
  const id = (s: ContainerStats) => s.attributes?.id ?? '';
  return [...res.stats].sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
}

/**
 * crictl's table of a second sample against a first: containers without CPU and memory use are left out unless
 * `all`, and so are those the first sample did not have.
 */
export function statsTable(before: ContainerStats[], after: ContainerStats[], all: boolean): string {
  const old = new Map(before.map((s) => [s.attributes?.id ?? '', s]));
  const rows = [['CONTAINER', 'NAME', 'CPU %', 'MEM', 'DISK', 'INODES', 'SWAP']];
  for (const s of after) {
    const id = s.attributes?.id ?? '';
    const cpu = num(s.cpu?.usageCoreNanoSeconds);
    const mem = num(s.memory?.workingSetBytes);
    if (!all && cpu === 0n && mem === 0n) continue;
    const prev = old.get(id);
    if (!prev) continue;
    let percent = 0;
    if (cpu !== 0n) {
      const elapsed = BigInt(s.cpu?.timestamp ?? '0') - BigInt(prev.cpu?.timestamp ?? '0');
      if (elapsed === 0n) throw new BerthError('Internal', 'cpu stat is not updated during sample');
      percent = (Number(cpu - num(prev.cpu?.usageCoreNanoSeconds)) / Number(elapsed)) * 100;
    }
    rows.push([
      truncatedId(id, ''), s.attributes?.metadata?.name ?? '', percent.toFixed(2), humanSize(Number(mem), 4),
      humanSize(Number(num(s.writableLayer?.usedBytes)), 4), num(s.writableLayer?.inodesUsed).toString(), humanSize(Number(num(s.swap?.swapUsageBytes)), 4),
    ]);
  }
  return table(rows);
}

export const statsCommand: Command = {
  name: 'stats',
  service: 'runtime',
  usage: 'berthctl stats [OPTIONS] [CONTAINER-ID]',
  summary: 'List container(s) resource usage statistics',
  flags: [
    { name: 'all', short: 'a', kind: 'bool', help: 'show all containers (default: those using CPU or memory)' },
    flag.id('container'), flag.pod, flag.label, outputFlag('table', ['json', 'yaml', 'table']),
    { name: 'seconds', short: 's', kind: 'string', arg: 'N', help: 'sample duration for CPU usage in seconds (default 1)' },
    HELP_FLAG,
  ],
  async run({ client, args, stdout }) {
    if (args.positional.length > 1) throw invalid(args.positional[1], 'stats takes at most one container id');
    const format = outputFormat(args, 'table', ['json', 'yaml', 'table']);
    const filter = {
      id: flagString(args, 'id') || args.positional[0] || '',
      podSandboxId: flagString(args, 'pod') ?? '',
      labelSelector: parseLabels(flagList(args, 'label')),
    };
    const seconds = intFlag(args, 'seconds', 1);
    const first = await sample(client, filter);
    if (format !== 'table') {
      const doc = protoJson({ stats: first });
      stdout(format === 'json' ? json(doc) : yamlText(doc));
      return 0;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, seconds) * 1000));
    stdout(statsTable(first, await sample(client, filter), flagBool(args, 'all')));
    return 0;
  },
};
