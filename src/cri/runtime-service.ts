/**
 * runtime.v1.RuntimeService. Only Version so far, so that kubelet and crictl can probe berthd; sandboxes and
 * containers arrive with issue 05. Methods not implemented here answer UNIMPLEMENTED (grpc-js does that for
 * any method missing from the implementation object).
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../common/log';
import { unary } from '../common/grpc';
import type { VersionRequest, VersionResponse } from './types';

/** The CRI version kubelet speaks (VersionRequest.version / VersionResponse.version). */
export const KUBELET_API_VERSION = '0.1.0';
export const RUNTIME_NAME = 'berthd';
export const RUNTIME_API_VERSION = 'v1';

export function runtimeService(log: Logger, runtimeVersion: string): grpc.UntypedServiceImplementation {
  return {
    Version: unary<VersionRequest, VersionResponse>(log, 'Version', () => ({
      version: KUBELET_API_VERSION,
      runtimeName: RUNTIME_NAME,
      runtimeVersion,
      runtimeApiVersion: RUNTIME_API_VERSION,
    })),
  };
}
