/** The CNI facade for berthd: load a network, attach and detach containers, readiness, garbage collection. */
export { Invoker, loadNetwork, networkFromText, type Attachment, type InvokerOptions, type LoadedNetwork } from './invoker';
export { BERTH_PLUGINS } from './registry';
export type { CachedAttachment } from './cache';
