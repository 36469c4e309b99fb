/**
 * GetContainerEvents: the kubelet's Evented PLEG. Every container state change is published to the streams
 * open at that moment, with the sandbox's and its containers' statuses as they are after the change.
 * Nothing is buffered for streams opened later (the kubelet relists when it reconnects).
 */
import type { ContainerEventResponse, ContainerEventTypeName } from '../types';

type Listener = (e: ContainerEventResponse) => void;

export class ContainerEvents {
  private readonly listeners = new Set<Listener>();

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** `build` runs only when someone listens: statuses cost a few lookups. */
  publish(containerId: string, type: ContainerEventTypeName, build: () => Omit<ContainerEventResponse, 'containerId' | 'containerEventType'>): void {
    if (this.listeners.size === 0) return;
    const e: ContainerEventResponse = { containerId, containerEventType: type, ...build() };
    for (const l of this.listeners) l(e);
  }
}
