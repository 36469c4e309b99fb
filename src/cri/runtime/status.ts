/**
 * Version, Status, RuntimeConfig and UpdateRuntimeConfig: what the kubelet asks before anything else, and
 * keeps asking (Status every few seconds decides the node's Ready condition).
 */
import type {
  RuntimeConfigResponse, StatusRequest, StatusResponse, UpdateRuntimeConfigRequest, UpdateRuntimeConfigResponse, VersionResponse,
} from '../types';
import type { RuntimeContext } from './context';

/** The CRI version kubelet speaks (VersionRequest.version / VersionResponse.version). */
export const KUBELET_API_VERSION = '0.1.0';
/** kubelet reports `containerRuntimeVersion` as `<runtimeName>://<runtimeVersion>`. */
export const RUNTIME_NAME = 'berth';
export const RUNTIME_API_VERSION = 'v1';

export function version(ctx: RuntimeContext): VersionResponse {
  return { version: KUBELET_API_VERSION, runtimeName: RUNTIME_NAME, runtimeVersion: ctx.version, runtimeApiVersion: RUNTIME_API_VERSION };
}

export async function status(ctx: RuntimeContext, req: StatusRequest): Promise<StatusResponse> {
  const net = await ctx.network.readiness();
  const info: Record<string, string> = {};
  if (req.verbose) {
    info.config = JSON.stringify({ cgroupDriver: ctx.cgroupDriver, podCidr: ctx.podCidr, handlers: ctx.handlers.names(), stateDir: ctx.stateDir, noPause: true });
  }
  return {
    status: {
      conditions: [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        { type: 'NetworkReady', status: net.ready, reason: net.reason, message: net.message },
      ],
    },
    info,
    // The default handler is listed under "" too, as containerd does: that is the one clients ask about.
    runtimeHandlers: ['', ...ctx.handlers.names()].map((name) => ({ name, features: { recursiveReadOnlyMounts: true, userNamespaces: name === '' || name === 'berth' } })),
    features: { supplementalGroupsPolicy: true, userNamespacesHostNetwork: false, mountOptions: false },
  };
}

export function runtimeConfig(ctx: RuntimeContext): RuntimeConfigResponse {
  return { linux: { cgroupDriver: ctx.cgroupDriver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' } };
}

export function updateRuntimeConfig(ctx: RuntimeContext, req: UpdateRuntimeConfigRequest): UpdateRuntimeConfigResponse {
  const cidr = req.runtimeConfig?.networkConfig?.podCidr ?? '';
  if (cidr !== ctx.podCidr) {
    ctx.log.info('pod CIDR updated', { podCidr: cidr, previous: ctx.podCidr });
    ctx.podCidr = cidr;
  }
  return {};
}
