/** Reading the CRI log format back: "<time> <stdout|stderr> <F|P> <content>"; F ends a line, P does not. */
import * as fs from 'node:fs';

export interface CriLogEntry { time: string; stream: 'stdout' | 'stderr'; partial: boolean; content: Buffer }

export function parseCriLines(data: Buffer): CriLogEntry[] {
  const out: CriLogEntry[] = [];
  let start = 0;
  while (start < data.length) {
    let nl = data.indexOf(0x0a, start);
    if (nl < 0) nl = data.length;
    const line = data.subarray(start, nl);
    start = nl + 1;
    const s1 = line.indexOf(0x20);
    const s2 = line.indexOf(0x20, s1 + 1);
    const s3 = line.indexOf(0x20, s2 + 1);
    if (s1 < 0 || s2 < 0 || s3 < 0) continue;
    const stream = line.subarray(s1 + 1, s2).toString();
    const tag = line.subarray(s2 + 1, s3).toString();
    if ((stream !== 'stdout' && stream !== 'stderr') || (tag !== 'F' && tag !== 'P')) continue;
    out.push({ time: line.subarray(0, s1).toString(), stream, partial: tag === 'P', content: line.subarray(s3 + 1) });
  }
  return out;
}

/** The bytes each stream wrote, rebuilt from the log: F lines get their newline back. */
export function parseCriLog(file: string): { stdout: Buffer; stderr: Buffer } {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch {
    return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  }
  const parts: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
  for (const e of parseCriLines(data)) {
    parts[e.stream].push(e.content);
    if (!e.partial) parts[e.stream].push(Buffer.from('\n'));
  }
  return { stdout: Buffer.concat(parts.stdout), stderr: Buffer.concat(parts.stderr) };
}
