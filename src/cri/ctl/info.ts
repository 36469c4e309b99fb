/** `berthctl imagefsinfo` and `version`. */
import type { ImageFsInfoResponse, VersionResponse } from '../types';
import { HELP_FLAG, outputFlag, outputFormat, type Command } from './command';
import { humanSize, json, table } from './format';

export const imagefsinfoCommand: Command = {
  name: 'imagefsinfo',
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
