/** `berthctl info`, `imagefsinfo` and `version`. */
import { invalid } from '../../common/errors';
import { flagBool } from '../../common/args';
import type { ImageFsInfoResponse, StatusResponse, VersionResponse } from '../types';
import { HELP_FLAG, outputFlag, outputFormat, type Command } from './command';
import { humanSize, infoValue, json, protoJson, sortedKeys, table, yamlText } from './format';

/**
 * A message as Go's encoding/json writes the generated struct (crictl info marshals runtimeHandlers and
 * features that way, not with protojson): the proto's snake_case names, zero values left out (omitempty).
 */
export function goStructJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(goStructJson);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === null || x === false || x === '' || x === 0 || (Array.isArray(x) && x.length === 0)) continue;
    out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = goStructJson(x);
  }
  return out;
}

/** The document `crictl info` prints: status, runtime handlers, features and every info entry, keys sorted. */
export function runtimeInfoDocument(res: StatusResponse): unknown {
  const doc: Record<string, unknown> = { status: protoJson(res.status ?? {}) };
  // Go marshals an empty repeated field and an absent message as null, which crictl then leaves out.
  if (res.runtimeHandlers.length > 0) doc.runtimeHandlers = goStructJson(res.runtimeHandlers);
  if (res.features) doc.features = goStructJson(res.features);
  for (const [k, v] of Object.entries(res.info)) doc[k] = infoValue(v);
  return sortedKeys(doc);
}

export const infoCommand: Command = {
  name: 'info',
  service: 'runtime',
  usage: 'berthctl info [OPTIONS]',
  summary: 'Display information of the container runtime',
  flags: [outputFlag('json', ['json', 'yaml']), { name: 'quiet', short: 'q', kind: 'bool', help: 'do not show verbose information' }, HELP_FLAG],
  async run({ client, args, stdout }) {
    if (args.positional.length > 0) throw invalid(args.positional[0], 'info takes no arguments');
    const format = outputFormat(args, 'json', ['json', 'yaml']);
    const res = await client.runtimeCall<unknown, StatusResponse>('Status', { verbose: !flagBool(args, 'quiet') });
    const doc = runtimeInfoDocument(res);
    stdout(format === 'yaml' ? yamlText(doc) : json(doc));
    return 0;
  },
};

export const imagefsinfoCommand: Command = {
  name: 'imagefsinfo',
  service: 'image',
  usage: 'berthctl imagefsinfo [OPTIONS]',
  summary: 'Return image filesystem info',
  flags: [outputFlag('json', ['json', 'table']), HELP_FLAG],
  async run({ client, args, stdout }) {
    const format = outputFormat(args, 'json', ['json', 'table']);
    const res = await client.imageCall<unknown, ImageFsInfoResponse>('ImageFsInfo', {});
    if (format === 'json') {
      stdout(json({ status: res }));
      return 0;
    }
    const rows = [['MOUNTPOINT', 'USED', 'INODES']];
    for (const f of res.imageFilesystems) rows.push([f.fsId?.mountpoint ?? '', humanSize(Number(f.usedBytes?.value ?? 0)), f.inodesUsed?.value ?? '0']);
    stdout(table(rows));
    return 0;
  },
};

export const versionCommand: Command = {
  name: 'version',
  service: 'runtime',
  usage: 'berthctl version [OPTIONS]',
  summary: 'Display runtime version information',
  flags: [outputFlag('text', ['json', 'text']), HELP_FLAG],
  async run({ client, args, stdout }) {
    const format = outputFormat(args, 'text', ['json', 'text']);
    const v = await client.runtimeCall<unknown, VersionResponse>('Version', { version: '0.1.0' });
    if (format === 'json') stdout(json(v));
    else stdout(`Version:  ${v.version}\nRuntimeName:  ${v.runtimeName}\nRuntimeVersion:  ${v.runtimeVersion}\nRuntimeApiVersion:  ${v.runtimeApiVersion}\n`);
    return 0;
  },
};
