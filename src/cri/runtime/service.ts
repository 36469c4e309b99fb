/**
 * runtime.v1.RuntimeService: the handler table. Each RPC (or tight group) lives in its own file over the
 * injected RuntimeContext; this file only names them, so that one gRPC server serves one set of handlers.
 */
import type * as grpc from '@grpc/grpc-js';
import { BerthError } from '../../common/errors';
import { failStream, unary } from '../../common/grpc';
import type { ContainerEventResponse, GetEventsRequest } from '../types';
import type { RuntimeContext } from './context';
import { createContainer } from './container-create';
import { removeContainer } from './container-remove';
import { startContainer } from './container-start';
import { containerStatus, listContainers } from './container-status';
import { stopContainer } from './container-stop';
import { reopenContainerLog, updateContainerResources } from './container-update';
import { execSync } from './exec-sync';
import { listMetricDescriptors, listPodSandboxMetrics } from './metrics';
import { removePodSandbox } from './sandbox-remove';
import { runPodSandbox } from './sandbox-run';
import { listPodSandbox, podSandboxStatus } from './sandbox-status';
import { stopPodSandbox } from './sandbox-stop';
import { attach, exec, portForward } from './streaming';
import { containerStats, listContainerStats, listPodSandboxStats, podSandboxStats } from './stats';
import { runtimeConfig, status, updateRuntimeConfig, version } from './status';

type Handler = (ctx: RuntimeContext, req: never) => unknown;

const HANDLERS: Record<string, Handler> = {
  Version: version,
  Status: status,
  RuntimeConfig: runtimeConfig,
  UpdateRuntimeConfig: updateRuntimeConfig,
  RunPodSandbox: runPodSandbox,
  StopPodSandbox: stopPodSandbox,
  RemovePodSandbox: removePodSandbox,
  PodSandboxStatus: podSandboxStatus,
  ListPodSandbox: listPodSandbox,
  CreateContainer: createContainer,
  StartContainer: startContainer,
  StopContainer: stopContainer,
  RemoveContainer: removeContainer,
  ListContainers: listContainers,
  ContainerStatus: containerStatus,
  UpdateContainerResources: updateContainerResources,
  ReopenContainerLog: reopenContainerLog,
  ExecSync: execSync,
  Exec: exec,
  Attach: attach,
  PortForward: portForward,
  ContainerStats: containerStats,
  ListContainerStats: listContainerStats,
  PodSandboxStats: podSandboxStats,
  ListPodSandboxStats: listPodSandboxStats,
  ListMetricDescriptors: listMetricDescriptors,
  ListPodSandboxMetrics: listPodSandboxMetrics,
};

/** RPCs berthd answers with a clear Unimplemented (the CRI allows it for these). */
const UNIMPLEMENTED: Record<string, string> = {
  CheckpointContainer: 'CheckpointContainer is not supported by berthd (no CRIU integration)',
  UpdatePodSandboxResources: 'UpdatePodSandboxResources is not supported by berthd yet: the kubelet resizes containers one by one instead',
};

export function runtimeService(ctx: RuntimeContext): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(HANDLERS)) impl[name] = unary<unknown, unknown>(ctx.log, name, (req) => fn(ctx, req as never));
  for (const [name, message] of Object.entries(UNIMPLEMENTED)) {
    impl[name] = unary<unknown, unknown>(ctx.log, name, () => { throw new BerthError('Unimplemented', message); });
  }
  impl.GetContainerEvents = containerEventStream(ctx);
  return impl;
}

function containerEventStream(ctx: RuntimeContext): grpc.handleServerStreamingCall<GetEventsRequest, ContainerEventResponse> {
  return (call) => {
    ctx.log.debug('rpc', { method: 'GetContainerEvents' });
    const unsubscribe = ctx.events.subscribe((e) => {
      if (!call.write(e)) ctx.log.debug('GetContainerEvents: client is slow; buffering');
    });
    const end = () => unsubscribe();
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', (err) => {
      end();
      failStream(call, err);
    });
  };
}
