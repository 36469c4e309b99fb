/** Task events to every subscriber, with a bounded backlog since start-up for subscribers that ask for a replay. */
import type { EventType, TaskEvent } from './types';

const BACKLOG = 1024;

export class EventBus {
  private readonly backlog: TaskEvent[] = [];
  private readonly listeners = new Set<(e: TaskEvent) => void>();

  emit(type: EventType, fields: Partial<TaskEvent> & { id: string }): void {
    const event: TaskEvent = { type, execId: '', pid: 0, exitCode: 0, oomKilled: false, timestamp: Date.now(), ...fields };
    this.backlog.push(event);
    if (this.backlog.length > BACKLOG) this.backlog.shift();
    for (const l of this.listeners) l(event);
  }

  subscribe(listener: (e: TaskEvent) => void, replay: boolean): () => void {
    if (replay) for (const e of this.backlog) listener(e);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
