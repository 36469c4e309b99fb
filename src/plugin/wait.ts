/** Waiting between polls: the plugin polls once a second, and Ctrl-C ends every wait at once. */
import { BerthError } from '../common/errors';

export const POLL_MS = 1000;

/** Thrown when the user interrupted (SIGINT); main exits 130 for it. */
export class Interrupted extends BerthError {
  constructor() {
    super('Unavailable', 'interrupted');
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Interrupted());
    const onAbort = () => {
      clearTimeout(t);
      reject(new Interrupted());
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
