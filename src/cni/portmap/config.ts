/** portmap's configuration: runtimeConfig.portMappings (capability "portMappings") and the backend choice. */
import type { Backend } from '../pkg/firewall';
import { invalidConfig } from '../pkg/errors';
import { parseIP } from '../pkg/ip';
import type { NetConf } from '../pkg/types';
import { asArray, asObject, join, member, optString, type Json } from '../pkg/validate';

export interface Mapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

export interface PortmapConfig {
  mappings: Mapping[];
  backend?: Backend;
}

function port(o: Json, key: string, field: string): number {
  const v = member(o, key);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw invalidConfig(join(field, key), `must be a port number (1-65535), not ${JSON.stringify(v)}`);
  return v;
}

export function loadPortmapConfig(conf: NetConf): PortmapConfig {
  const raw = conf.raw;
  const backend = optString(raw, 'backend');
  if (backend !== undefined && backend !== 'iptables' && backend !== 'nftables') throw invalidConfig('backend', `must be "iptables" or "nftables", not ${JSON.stringify(backend)}`);
  const list = conf.runtimeConfig?.portMappings;
  const mappings: Mapping[] = [];
  if (list !== undefined && list !== null) {
    asArray(list, 'runtimeConfig.portMappings').forEach((x, i) => {
      const f = `runtimeConfig.portMappings[${i}]`;
      const o = asObject(x, f);
      const protocol = (optString(o, 'protocol', f) || 'tcp').toLowerCase();
      if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') throw invalidConfig(join(f, 'protocol'), `must be tcp, udp or sctp, not ${JSON.stringify(protocol)}`);
      const m: Mapping = { hostPort: port(o, 'hostPort', f), containerPort: port(o, 'containerPort', f), protocol };
      const hostIP = optString(o, 'hostIP', f);
      if (hostIP) {
        if (!parseIP(hostIP)) throw invalidConfig(join(f, 'hostIP'), `invalid IP address ${JSON.stringify(hostIP)}`);
        m.hostIP = hostIP;
      }
      mappings.push(m);
    });
  }
  return { mappings, backend: backend as Backend | undefined };
}
