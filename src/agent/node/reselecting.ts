/**
 * The node side that follows kubelet: a migration (issue 09) moves kubelet from cri-dockerd or containerd to
 * berthd while the agent runs, and from then on the node's handlers belong in berthd. Each observation first
 * reads kubelet's endpoint (a few small files) and, when it changed, closes the old side and selects anew.
 */
import type { CanaryResult, RuntimeHandler } from '../api/types';
import type { NodeObservation, NodeSide } from '../node-side';
import type { ConfigureHandler, RunCanary } from '../reconcile';
import { kubeletFacts } from './kubelet';
import { nodeSideFor, type NodeSideOptions, type SelectedNodeSide } from './select';

export class ReselectingNodeSide implements NodeSide {
  private selected: SelectedNodeSide;
  private endpoint: string;

  constructor(private readonly o: NodeSideOptions, private readonly onChange?: (runtime: string) => void) {
    this.endpoint = kubeletFacts(o.host).runtimeEndpoint;
    this.selected = nodeSideFor(o);
  }

  get runtime(): string {
    return this.selected.runtime;
  }

  /** The CRI socket the current side talks to, as the agent sees it. */
  get socket(): string {
    return this.selected.socket;
  }

  private follow(): SelectedNodeSide {
    const endpoint = kubeletFacts(this.o.host).runtimeEndpoint;
    if (endpoint !== this.endpoint) {
      this.selected.side.close();
      this.endpoint = endpoint;
      this.selected = nodeSideFor(this.o);
      this.onChange?.(this.selected.runtime);
    }
    return this.selected;
  }

  observe(): Promise<NodeObservation> {
    return this.follow().side.observe();
  }

  configure(action: ConfigureHandler): Promise<void> {
    return this.selected.side.configure(action);
  }

  unconfigure(handler: string): Promise<void> {
    return this.selected.side.unconfigure(handler);
  }

  canary(action: RunCanary, owner: RuntimeHandler | undefined): Promise<CanaryResult> {
    return this.selected.side.canary(action, owner);
  }

  close(): void {
    this.selected.side.close();
  }
}
