/** pause, resume, update: changes to a running container's cgroup. */
import { parseJson } from '../../../common/json';
import * as fs from 'node:fs';
import { invalid } from '../../../common/errors';
import { flagString, type ParsedArgs as Parsed } from '../../../common/args';
import { requireId, type Command } from '../command';

export const pause: Command = {
  name: 'pause',
  usage: 'berth-run pause <container-id>',
  description: 'Freeze every process of the container.',
  flags: [],
  async run({ runtime }, args) {
    await runtime.pause(requireId(args, 'pause'));
    return 0;
  },
};

export const resume: Command = {
  name: 'resume',
  usage: 'berth-run resume <container-id>',
  description: 'Thaw a paused container.',
  flags: [],
  async run({ runtime }, args) {
    await runtime.resume(requireId(args, 'resume'));
    return 0;
  },
};

const numeric: [flag: string, section: 'memory' | 'cpu' | 'pids' | 'blockIO', key: string][] = [
  ['memory', 'memory', 'limit'], ['memory-reservation', 'memory', 'reservation'], ['memory-swap', 'memory', 'swap'],
  ['kernel-memory', 'memory', 'kernel'], ['kernel-memory-tcp', 'memory', 'kernelTCP'],
  ['cpu-shares', 'cpu', 'shares'], ['cpu-quota', 'cpu', 'quota'], ['cpu-period', 'cpu', 'period'],
  ['cpu-rt-runtime', 'cpu', 'realtimeRuntime'], ['cpu-rt-period', 'cpu', 'realtimePeriod'],
  ['pids-limit', 'pids', 'limit'], ['blkio-weight', 'blockIO', 'weight'],
];

export const update: Command = {
  name: 'update',
  usage: 'berth-run update [options] <container-id>',
  description: 'Change the resource limits of a container (linux.resources JSON or flags).',
  flags: [
    { name: 'resources', short: 'r', kind: 'string', arg: 'FILE', help: 'linux.resources JSON ("-" for stdin)' },
    ...numeric.map(([flag, section, key]) => ({ name: flag, kind: 'string' as const, arg: 'N', help: `linux.resources.${section}.${key}` })),
    { name: 'cpuset-cpus', kind: 'string', arg: 'LIST', help: 'linux.resources.cpu.cpus' },
    { name: 'cpuset-mems', kind: 'string', arg: 'LIST', help: 'linux.resources.cpu.mems' },
  ],
  async run({ runtime }, args) {
    await runtime.update(requireId(args, 'update'), resourcesFromArgs(args));
    return 0;
  },
};

function resourcesFromArgs(args: Parsed): Record<string, Record<string, unknown>> {
  const file = flagString(args, 'resources');
  if (file !== undefined) {
    try {
      return parseJson(fs.readFileSync(file === '-' ? 0 : file, 'utf8')) as Record<string, Record<string, unknown>>;
    } catch (err) {
      throw invalid('--resources', `${file}: ${(err as Error).message}`);
    }
  }
  const out: Record<string, Record<string, unknown>> = {};
  for (const [flag, section, key] of numeric) {
    const v = flagString(args, flag);
    if (v === undefined) continue;
    const n = parseSize(v, flag);
    (out[section] ??= {})[key] = n;
  }
  const cpus = flagString(args, 'cpuset-cpus');
  const mems = flagString(args, 'cpuset-mems');
  if (cpus !== undefined) (out.cpu ??= {}).cpus = cpus;
  if (mems !== undefined) (out.cpu ??= {}).mems = mems;
  return out;
}

/** Numbers with runc's optional size suffixes (k, m, g); -1 means unlimited. */
function parseSize(v: string, flag: string): number {
  const m = /^(-?\d+)([kmgKMG]?)[bB]?$/.exec(v);
  if (!m) throw invalid(`--${flag}`, `"${v}" is not a number`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}
