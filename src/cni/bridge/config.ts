/** The bridge plugin's configuration: the reference plugin's keys and defaults, validated once, naming fields. */
import type { Backend } from '../pkg/firewall';
import { invalidConfig, unsupportedField } from '../pkg/errors';
import type { NetConf } from '../pkg/types';
import { interfaceNameProblem } from '../pkg/validate';
import { optBool, optInt, optString, type Json } from '../pkg/validate';

export interface BridgeConfig {
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  ipMasqBackend?: Backend;
  /** 0: the kernel's default. */
  mtu: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  enableDad: boolean;
  /** runtimeConfig.mac (capability "mac"): the container interface's address. */
  mac?: string;
  /** Whether the config has an `ipam` section (without one: a layer-2 only attachment). */
  hasIpam: boolean;
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function loadBridgeConfig(conf: NetConf): BridgeConfig {
  const o: Json = conf.raw;
  const bridge = optString(o, 'bridge') || 'cni0';
  const problem = interfaceNameProblem(bridge);
  if (problem) throw invalidConfig('bridge', `bridge name ${JSON.stringify(bridge)} ${problem}`);
  for (const key of ['vlan', 'vlanTrunk', 'macspoofchk', 'disableContainerInterface', 'portIsolation']) {
    const v = o[key];
    if (v !== undefined && v !== null && v !== false && v !== 0) throw unsupportedField(key, `${key} is not supported by berth-bridge`);
  }
  const isDefaultGateway = optBool(o, 'isDefaultGateway') ?? false;
  // A default gateway is a gateway (as in the reference plugin).
  const isGateway = (optBool(o, 'isGateway') ?? false) || isDefaultGateway;
  const backend = optString(o, 'ipMasqBackend');
  if (backend !== undefined && backend !== 'iptables' && backend !== 'nftables') throw invalidConfig('ipMasqBackend', `must be "iptables" or "nftables", not ${JSON.stringify(backend)}`);
  const mtu = optInt(o, 'mtu', '', 0, 65535) ?? 0;
  if (mtu !== 0 && mtu < 68) throw invalidConfig('mtu', `must be at least 68, not ${mtu}`);
  let mac: string | undefined;
  const rcMac = conf.runtimeConfig?.mac;
  if (rcMac !== undefined && rcMac !== null && rcMac !== '') {
    if (typeof rcMac !== 'string' || !MAC_RE.test(rcMac)) throw invalidConfig('runtimeConfig.mac', `invalid MAC address ${JSON.stringify(rcMac)}`);
    mac = rcMac.toLowerCase();
  }
  return {
    bridge,
    isGateway,
    isDefaultGateway,
    forceAddress: optBool(o, 'forceAddress') ?? false,
    ipMasq: optBool(o, 'ipMasq') ?? false,
    ipMasqBackend: backend as Backend | undefined,
    mtu,
    hairpinMode: optBool(o, 'hairpinMode') ?? false,
    promiscMode: optBool(o, 'promiscMode') ?? false,
    enableDad: optBool(o, 'enabledad') ?? false,
    mac,
    hasIpam: conf.ipam !== undefined && conf.ipam.type !== '',
  };
}
