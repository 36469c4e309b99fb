/**
 * Which containerd a node runs, from `containerd --version`: 2.x reads Berth's handlers as drop-ins through
 * `imports`; 1.x gets them as a block in its main config (inline-block.ts says why).
 */
import { execFile } from 'node:child_process';
import { BerthError } from '../../common/errors';

export interface ContainerdVersion {
  readonly major: number;
  readonly minor: number;
  /** As the binary printed it (`1.6.20~ds1`, `v2.4.2`). */
  readonly text: string;
}

/** How Berth's handlers reach containerd's CRI plugin. */
export type HandlerLayout = 'dropins' | 'inline';

/** Parses `containerd github.com/containerd/containerd v2.4.2 <revision>` (distributions print their own version). */
export function parseContainerdVersion(output: string): ContainerdVersion {
  for (const word of output.trim().split(/\s+/).slice(1)) {
    const m = /^v?(\d+)\.(\d+)(?:[.~+-]|$)/.exec(word);
    if (m) return { major: Number(m[1]), minor: Number(m[2]), text: word };
  }
  throw new BerthError('FailedPrecondition', `cannot tell containerd's version from ${JSON.stringify(output.trim().slice(0, 200))}`);
}

export const layoutFor = (v: ContainerdVersion): HandlerLayout => (v.major >= 2 ? 'dropins' : 'inline');

/** The config version a missing main config is written with. */
export const defaultConfigVersion = (v: ContainerdVersion): number => (v.major >= 2 ? 3 : 2);

/** Runs `<binary> --version` (the binary as the agent sees it: under /host in the DaemonSet). */
export function readContainerdVersion(binary: string, timeoutMs = 10_000): Promise<ContainerdVersion> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['--version'], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout) => {
      if (err) reject(new BerthError('FailedPrecondition', `${binary} --version: ${err.message}`, { cause: err }));
      else {
        try {
          resolve(parseContainerdVersion(stdout));
        } catch (e) {
          reject(e);
        }
      }
    });
  });
}
