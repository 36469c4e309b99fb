/**
 * The CLI's output, written straight to fd 1 and 2: the first use of process.stdout loads Node's stream
 * machinery, ~4 ms of a command that takes ~50 (measured with --cpu-prof on `berth-run --version`).
 */
import * as fs from 'node:fs';

let pause: Int32Array | undefined;

export function writeFd(fd: 1 | 2, text: string): void {
  const data = Buffer.from(text);
  let off = 0;
  while (off < data.length) {
    try {
      off += fs.writeSync(fd, data, off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A reader that went away (`berth-run state x | head -c1`) is not an error of ours.
      if (code === 'EPIPE') return;
      if (code !== 'EAGAIN') throw err;
      // A non-blocking pipe that is full: wait for the reader.
      Atomics.wait((pause ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, 1);
    }
  }
}

export const writeOut = (text: string): void => writeFd(1, text);
export const writeErr = (text: string): void => writeFd(2, text);
