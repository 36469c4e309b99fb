/** Small stream helpers the protocol layers share. */
import type { Writable } from 'node:stream';

/** How long ending a stream may wait for its queued writes to leave (a client that stopped reading). */
const FINISH_TIMEOUT_MS = 10_000;

/** Ends each writable and waits until all have finished (or closed, or the time is up). */
export function finishAll(streams: Array<Writable | undefined>, timeoutMs = FINISH_TIMEOUT_MS): Promise<void> {
  return Promise.all(streams.map((s) => (s ? finish(s, timeoutMs) : undefined))).then(() => undefined);
}

function finish(s: Writable, timeoutMs: number): Promise<void> {
  if (s.writableFinished || s.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      s.off('finish', done);
      s.off('close', done);
      s.off('error', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    s.on('finish', done);
    s.on('close', done);
    s.on('error', done);
    if (!s.writableEnded) s.end();
  });
}
