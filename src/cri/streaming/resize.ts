/**
 * Terminal resizes: the resize stream (channel 4 over WebSocket) carries a sequence of JSON objects
 * `{"Width":W,"Height":H}`, one per change (client-go encodes each on its own line, but nothing promises
 * the lines, so objects are cut out by their braces).
 */
import type { TerminalSize } from './backend';

/** A longer unfinished object is not a resize: the buffer is dropped rather than grown. */
const MAX_PENDING = 4096;

export class ResizeParser {
  private pending = '';

  constructor(private readonly onSize: (size: TerminalSize) => void) {}

  push(chunk: Buffer | string): void {
    this.pending += chunk.toString();
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const c = this.pending[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{') {
        if (depth++ === 0) start = i;
      } else if (c === '}' && depth > 0 && --depth === 0) {
        this.emit(this.pending.slice(start, i + 1));
        consumed = i + 1;
      } else if (depth === 0 && !/\s/.test(c)) {
        consumed = i + 1; // stray bytes between objects
      }
    }
    this.pending = this.pending.slice(consumed);
    if (this.pending.length > MAX_PENDING) this.pending = '';
  }

  private emit(text: string): void {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return;
    }
    const o = v as { Width?: unknown; Height?: unknown };
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
    if (ok(o.Width) && ok(o.Height)) this.onSize({ width: o.Width, height: o.Height });
  }
}

/** Resize events for a backend: a subscriber joining late still gets the latest size. */
export class ResizeEvents {
  private last?: TerminalSize;
  private readonly listeners = new Set<(size: TerminalSize) => void>();

  emit(size: TerminalSize): void {
    this.last = size;
    for (const l of this.listeners) l(size);
  }

  subscribe(listener: (size: TerminalSize) => void): () => void {
    this.listeners.add(listener);
    if (this.last) listener(this.last);
    return () => this.listeners.delete(listener);
  }
}
