/**
 * The main config as it was before Berth first edited it, kept beside it so that uninstall puts back the very
 * same bytes (and mode), or removes the file when there was none. Written once, before the first edit, and
 * removed only after the original is back.
 */
import { invalid } from '../../common/errors';

export interface ConfigBackup {
  /** Whether containerd had a main config file before Berth. */
  readonly existed: boolean;
  readonly content?: Buffer;
  readonly mode?: number;
}

interface BackupJson {
  kind: 'berth-containerd-config-backup';
  existed: boolean;
  base64?: string;
  mode?: number;
}

export function encodeBackup(b: ConfigBackup): string {
  const j: BackupJson = { kind: 'berth-containerd-config-backup', existed: b.existed, ...(b.content ? { base64: b.content.toString('base64') } : {}), ...(b.mode !== undefined ? { mode: b.mode } : {}) };
  return `${JSON.stringify(j, null, 2)}\n`;
}

export function decodeBackup(text: string, file: string): ConfigBackup {
  let j: Partial<BackupJson>;
  try {
    j = JSON.parse(text) as Partial<BackupJson>;
  } catch (err) {
    throw invalid(file, `not a Berth config backup: ${(err as Error).message}`);
  }
  if (j.kind !== 'berth-containerd-config-backup' || typeof j.existed !== 'boolean') throw invalid(file, 'not a Berth config backup');
  if (j.existed && typeof j.base64 !== 'string') throw invalid(`${file}.base64`, 'missing');
  return { existed: j.existed, ...(j.existed ? { content: Buffer.from(j.base64!, 'base64') } : {}), ...(typeof j.mode === 'number' ? { mode: j.mode } : {}) };
}
