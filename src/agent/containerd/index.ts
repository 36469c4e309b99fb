/** Runtime handlers on nodes whose CRI is still containerd (1.x and 2.x): what the rest of the agent uses. */
export { applyHandlers, configuredHandlers, dropInGlob, removeAll, type ApplyResult, type ContainerdTarget, type HandlerExpectation, type HealthReport } from './apply';
export type { ContainerdHandler } from './dropin';
export { criHealth } from './health';
export { layoutFor, parseContainerdVersion, readContainerdVersion, type ContainerdVersion, type HandlerLayout } from './version';
