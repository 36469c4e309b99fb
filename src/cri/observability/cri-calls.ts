/** gRPC call outcomes (common/grpc's observeService) as berth_cri_operations_total and its duration histogram. */
import { grpcCodeName, type CallObserver } from '../../common/grpc';
import type { BerthdMetrics } from './registry';

export function criCallObserver(metrics: BerthdMetrics): CallObserver {
  return ({ service, method, code, seconds }) => {
    metrics.criOperations.inc({ service, method, code: grpcCodeName(code) });
    metrics.criDuration.observe({ service, method }, seconds);
  };
}
