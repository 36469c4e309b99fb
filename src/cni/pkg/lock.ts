/**
 * A cross-process mutex without flock(2) (Node has none): holding the lock means having bound a Linux
 * abstract unix socket whose name is derived from the locked directory's device and inode numbers.
 *
 * - bind(2) on an abstract name is atomic and exclusive: a second binder gets EADDRINUSE, in this process
 *   or any other.
 * - The kernel releases the name when the socket is closed, including when its process dies (kill -9
 *   included): there is no stale lock to detect or break, so none of the races of pid-file locks.
 * - Keyed by st_dev:st_ino, not by path: two paths to the same directory (bind mounts, symlinks, other mount
 *   namespaces) are the same lock.
 * - Limit: abstract names are per network namespace. Every process sharing a data directory must run in the
 *   same network namespace, which holds for CNI (plugins run in the runtime's namespace, the host's).
 *
 * Within one process, waiters queue on a promise chain first, so the socket is only contended across
 * processes; across processes, waiters retry with a short randomised back-off until `timeoutMs`, then fail
 * with the spec's "try again later" (code 11).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { tryAgainLater } from './errors';

export interface LockOptions {
  /** How long to wait for the lock before failing (default 30 s). */
  timeoutMs?: number;
}

const chains = new Map<string, Promise<unknown>>();

/** The abstract socket name locking `dir` (which must exist). */
export function lockName(dir: string, scope = 'berth-cni'): string {
  const st = fs.statSync(dir, { bigint: true });
  return `\0${scope}/lock/${st.dev}:${st.ino}`;
}

function tryBind(name: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    const onError = (err: NodeJS.ErrnoException) => {
      server.close();
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    };
    server.once('error', onError);
    server.listen({ path: name, exclusive: true }, () => {
      server.removeListener('error', onError);
      // Nobody ever connects; refuse anyone who does, and never keep the process alive for it.
      server.on('connection', (s) => s.destroy());
      server.unref();
      resolve(server);
    });
  });
}

async function acquire(name: string, what: string, timeoutMs: number): Promise<net.Server> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    const server = await tryBind(name);
    if (server) return server;
    if (Date.now() >= deadline) throw tryAgainLater(`timed out after ${timeoutMs} ms waiting for the lock on ${what}`);
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    delay = Math.min(delay * 2, 20);
  }
}

function release(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Runs `fn` holding the lock on directory `dir` (in-process and cross-process). */
export async function withDirLock<T>(dir: string, fn: () => Promise<T> | T, options: LockOptions = {}): Promise<T> {
  const name = lockName(dir);
  const previous = chains.get(name) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((r) => (done = r));
  const tail = previous.then(() => mine);
  chains.set(name, tail);
  try {
    await previous;
    const server = await acquire(name, dir, options.timeoutMs ?? 30000);
    try {
      return await fn();
    } finally {
      await release(server);
    }
  } finally {
    done();
    if (chains.get(name) === tail) chains.delete(name);
  }
}
