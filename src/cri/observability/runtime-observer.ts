/** The RuntimeService's reports (observer.ts) as samples of berthd's metric families. */
import type { RuntimeObserver } from './observer';
import type { BerthdMetrics } from './registry';

export function runtimeObserver(metrics: BerthdMetrics): RuntimeObserver {
  return {
    podReady: (seconds) => metrics.podStart.observe(seconds),
    cniOperation: (plugin, command, seconds) => metrics.cniDuration.observe({ plugin, command }, seconds),
  };
}
