/**
 * The local side of a tty session, as crictl's (moby/term, kubectl's term.TTY): stdin in raw mode for the
 * session's length, the size of the terminal stdout is on and its changes (SIGWINCH), and the detach keys
 * ctrl-p,ctrl-q, after which berthctl stops sending input and closes the remote stdin.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { ReadStream, WriteStream } from 'node:tty';
import { Transform, type TransformCallback } from 'node:stream';

export interface TerminalSize {
  width: number;
  height: number;
}

export function isTerminal(s: NodeJS.ReadStream | NodeJS.WriteStream): boolean {
  return (s as { isTTY?: boolean }).isTTY === true;
}

/** The size of the terminal `out` writes to; undefined when it is not one (kubectl sends no size then). */
export function terminalSize(out: NodeJS.WriteStream): TerminalSize | undefined {
  if (!isTerminal(out)) return undefined;
  // getWindowSize asks the kernel (TIOCGWINSZ) each time: right after a SIGWINCH it is already the new size.
  const [width, height] = (out as WriteStream).getWindowSize();
  return { width, height };
}

/** Calls onSize with the current size, then once per SIGWINCH whose size differs; returns the unsubscribe. */
export function watchTerminalSize(out: NodeJS.WriteStream, onSize: (size: TerminalSize) => void): () => void {
  let last = terminalSize(out);
  if (last) onSize(last);
  const onWinch = (): void => {
    const now = terminalSize(out);
    if (!now || (last && now.width === last.width && now.height === last.height)) return;
    last = now;
    onSize(now);
  };
  process.on('SIGWINCH', onWinch);
  return () => process.off('SIGWINCH', onWinch);
}

/** Runs fn with `input` in raw mode (keys go to the container as typed, ctrl-c included), restored after. */
export async function withRawMode<T>(input: NodeJS.ReadStream, fn: () => Promise<T>): Promise<T> {
  const tty = input as ReadStream;
  const was = tty.isRaw;
  tty.setRawMode(true);
  noOutputProcessing(input);
  const restore = (): void => {
    if (!tty.destroyed) tty.setRawMode(was);
  };
  // A signal that ends berthctl must not leave the user's terminal raw.
  process.once('exit', restore);
  try {
    return await fn();
  } finally {
    process.off('exit', restore);
    restore();
  }
}

/**
 * libuv's raw mode keeps ONLCR, so the remote terminal's \r\n would reach the screen as \r\r\n; Go's
 * term.MakeRaw (crictl's) clears OPOST. Done with stty when stdout is the very terminal stdin is, so that
 * leaving raw mode (libuv puts back the termios it saved) restores it too.
 */
function noOutputProcessing(input: NodeJS.ReadStream): void {
  try {
    const fd = (input as unknown as { fd: number }).fd;
    const [a, b] = [fs.fstatSync(fd), fs.fstatSync(process.stdout.fd)];
    if (!isTerminal(process.stdout) || a.rdev !== b.rdev) return;
    spawnSync('stty', ['-opost'], { stdio: [fd, 'ignore', 'ignore'], timeout: 5000 });
  } catch {
    // No stty: output keeps its extra carriage returns, which a terminal shows the same.
  }
}

/** crictl's detach sequence (detachSequence = "ctrl-p,ctrl-q"). */
export const DETACH_KEYS = Buffer.from([0x10, 0x11]);

/**
 * Passes input through until the detach keys are typed, then ends and emits 'detach' (crictl's escape proxy
 * only stops its copy of stdin; berthctl also leaves the session, as the word says). A partial sequence is
 * held back until the next byte says what it was.
 */
export class DetachKeys extends Transform {
  private held = 0;
  detached = false;

  constructor(private readonly keys: Buffer = DETACH_KEYS) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.detached) {
      cb();
      return;
    }
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) {
          this.detached = true;
          if (out.length) this.push(Buffer.from(out));
          this.emit('detach');
          this.push(null);
          cb();
          return;
        }
        continue;
      }
      // Not the sequence after all: what was held back goes out as typed.
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]);
      this.held = 0;
      if (byte === this.keys[0]) this.held = 1;
      else out.push(byte);
    }
    if (out.length) this.push(Buffer.from(out));
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (!this.detached && this.held) this.push(this.keys.subarray(0, this.held));
    cb();
  }
}
