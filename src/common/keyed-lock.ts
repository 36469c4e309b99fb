/**
 * One operation at a time per key (a task id, a sandbox id, a name), in the order they asked; different keys
 * run concurrently. In-process only: a restart loses nothing because every operation's state is on disk.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn, fn);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key); });
    return result;
  }

  /** Keys with an operation running or queued (for tests and diagnostics). */
  get busy(): number {
    return this.tails.size;
  }
}
