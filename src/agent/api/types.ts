/**
 * The agent's API: the berth.dev/v1alpha1 kinds (crds/ holds their schemas) and the few fields of the
 * Kubernetes objects the agent reads and writes. These types are what the reconcilers see: everything that
 * comes from the API server is validated into them once (validate.ts), so inside the agent they are trusted.
 * Only the fields the agent uses are modelled; objects written back are patched, never replaced, so fields
 * not modelled here are kept.
 */

export const GROUP = 'berth.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Node label an agent sets once a handler is configured and its canary passed: `berth.dev/handler.<handler>=ready`. */
export const handlerLabel = (handler: string): string => `${GROUP}/handler.${handler}`;
export const HANDLER_LABEL_READY = 'ready';
/** On RuntimeHandlers: the leader removes it once the handler is unconfigured everywhere. */
export const FINALIZER = `${GROUP}/cleanup`;
/** On RuntimeClasses the leader created: which RuntimeHandler owns it (an existing class without it is left alone). */
export const OWNER_LABEL = `${GROUP}/runtime-handler`;

export interface ObjectMeta {
  readonly name: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  /** RFC 3339; decides which of two RuntimeHandlers naming the same CRI handler owns it (the older). */
  readonly creationTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly finalizers?: readonly string[];
  /** RFC 3339; set once deletion was requested. */
  readonly deletionTimestamp?: string;
}

/** metav1.Condition. */
export interface Condition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  /** RFC 3339, changed only when `status` changes. */
  readonly lastTransitionTime: string;
  readonly observedGeneration?: number;
}

// --- RuntimeHandler (cluster-scoped) ---

/**
 * What runs a handler's containers: Berth's own runtime, runc or crun (found on the node unless `path` says
 * where), or any other runc-compatible binary at `path`.
 */
export type RuntimeType = 'berth' | 'runc' | 'crun' | 'binary';

export interface RuntimeHandlerRuntime {
  readonly type: RuntimeType;
  /** Absolute path of the binary on the node; required for `binary`. */
  readonly path?: string;
  /** The OCI runtime's state directory (runc's `--root`). */
  readonly root?: string;
  /** Pass `--systemd-cgroup` to the runtime (containerd's `SystemdCgroup`); default: follow kubelet's cgroup driver. */
  readonly systemdCgroup?: boolean;
}

/** core/v1 Toleration. */
export interface Toleration {
  readonly key?: string;
  readonly operator?: 'Exists' | 'Equal';
  readonly value?: string;
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  readonly tolerationSeconds?: number;
}

export interface RuntimeClassTemplate {
  /** Create and keep the node.k8s.io/v1 RuntimeClass; default true. */
  readonly create: boolean;
  /** Its name; default the handler's name. */
  readonly name: string;
  /** `overhead.podFixed`: resource name → quantity. */
  readonly overheadPodFixed?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly Toleration[];
}

export interface Canary {
  /** Run a test container through the handler before advertising it; default true. */
  readonly enabled: boolean;
  /** Default 30. */
  readonly timeoutSeconds: number;
}

export interface RuntimeHandlerSpec {
  /** The CRI runtime handler name (RuntimeClass `handler`): a DNS-1123 label. */
  readonly handler: string;
  readonly runtime: RuntimeHandlerRuntime;
  /** Nodes the handler goes on: label → value, all must match (empty: every node). */
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly runtimeClass: RuntimeClassTemplate;
  readonly canary: Canary;
  /** How many matching nodes may be changing or failed at once when the spec changes; default 1. */
  readonly maxUnavailable: number | `${number}%`;
}

export interface FailingNode {
  readonly node: string;
  readonly reason: string;
  readonly message: string;
}

export interface RuntimeHandlerStatus {
  readonly observedGeneration?: number;
  readonly conditions: readonly Condition[];
  readonly desiredNodes: number;
  readonly readyNodes: number;
  readonly failedNodes: number;
  readonly failingNodes: readonly FailingNode[];
  /**
   * The rollout of a changed spec: the nodes the leader lets apply generation `generation` now (the others
   * keep the configuration they have until they are let in).
   */
  readonly rollout?: { readonly generation: number; readonly nodes: readonly string[] };
}

export interface RuntimeHandler {
  readonly metadata: ObjectMeta;
  readonly spec: RuntimeHandlerSpec;
  readonly status?: RuntimeHandlerStatus;
}

// --- BerthNode (cluster-scoped, one per node, named after it, written by that node's agent) ---

/** Where one handler stands on one node. */
export type HandlerPhase = 'Pending' | 'Configured' | 'Ready' | 'Failed' | 'Removing';

export interface CanaryResult {
  readonly passed: boolean;
  /** RFC 3339. */
  readonly time: string;
  readonly message: string;
}

export interface NodeHandlerState {
  readonly handler: string;
  /**
   * The RuntimeHandler generation this state is about: the configured one (Configured, Ready, Removing), the
   * one being applied (Pending), the one that failed (Failed), so that the leader sees a new generation fail.
   */
  readonly generation: number;
  readonly phase: HandlerPhase;
  readonly message: string;
  readonly lastCanary?: CanaryResult;
}

/** The node's CRI: berthd, or the runtime it still has before migration (issue 09). */
export type NodeRuntime = 'berthd' | 'containerd' | 'cri-dockerd' | 'cri-o' | 'unknown';

export interface BerthNodeStatus {
  readonly stackVersion: string;
  readonly berthd: { readonly healthy: boolean; readonly version: string; readonly message: string };
  readonly kubeletRuntimeEndpoint: string;
  readonly runtime: NodeRuntime;
  readonly cgroupDriver: 'cgroupfs' | 'systemd';
  readonly handlers: readonly NodeHandlerState[];
  readonly conditions: readonly Condition[];
}

export interface BerthNode {
  readonly metadata: ObjectMeta;
  readonly status?: BerthNodeStatus;
}

// --- the Kubernetes objects the agent reads or writes (only the fields it uses) ---

export interface Node {
  readonly metadata: ObjectMeta;
}

/** node.k8s.io/v1 RuntimeClass. */
export interface RuntimeClass {
  readonly metadata: ObjectMeta;
  readonly handler: string;
  readonly overhead?: { readonly podFixed: Readonly<Record<string, string>> };
  readonly scheduling?: {
    readonly nodeSelector?: Readonly<Record<string, string>>;
    readonly tolerations?: readonly Toleration[];
  };
}

/** A pod on this node, as far as handler removal cares: it keeps a handler in use while it is not finished. */
export interface PodUse {
  readonly namespace: string;
  readonly name: string;
  readonly runtimeClassName?: string;
  readonly phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
}
