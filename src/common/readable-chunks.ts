/**
 * A Readable's chunks as an async iterable, exactly as the stream emits them. The stream's own async
 * iterator calls read(), which concatenates (copies) everything buffered into one new Buffer; on the hot
 * paths (blob downloads, decompression) that is a copy of every byte and garbage for the GC. Here each chunk
 * is handed on as it is; the stream is paused while more than `highWater` bytes wait to be taken.
 */
import type { Readable } from 'node:stream';

export async function* readableChunks(stream: Readable, highWater = 1 << 20): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let head = 0;
  let queued = 0;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= highWater) stream.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (err: unknown) => {
    failure ??= err;
    notify();
  };
  // Destroyed without 'end' or 'error' (a socket cut by the other side may end up this way).
  const onClose = () => {
    if (!ended) failure ??= Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    notify();
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('error', onError);
  stream.on('close', onClose);
  try {
    for (;;) {
      if (failure !== undefined) throw failure;
      if (head < queue.length) {
        const chunk = queue[head];
        queue[head++] = undefined as unknown as Buffer;
        if (head === queue.length) queue.length = head = 0;
        queued -= chunk.length;
        if (queued < highWater && stream.isPaused()) stream.resume();
        yield chunk;
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    stream.off('close', onClose);
    // An error the stream emits after this (while it is torn down) must not be an uncaught 'error' event.
    stream.on('error', () => undefined);
    if (!ended) stream.destroy();
  }
}
