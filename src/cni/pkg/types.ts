/**
 * CNI data structures (spec 1.1 names). Results are held in one internal form, the 1.1.0 result, which is a
 * superset of the others; `result.ts` reads any supported version into it and writes it out in any version.
 */

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Interface {
  name: string;
  mac?: string;
  /** 1.1.0 */
  mtu?: number;
  sandbox?: string;
  /** 1.1.0 */
  socketPath?: string;
  /** 1.1.0 */
  pciID?: string;
}

export interface IPConfig {
  /** Index into `interfaces`. */
  interface?: number;
  /** CIDR: the address with its prefix length. */
  address: string;
  gateway?: string;
}

export interface Route {
  dst: string;
  gw?: string;
  /** 1.1.0 */
  mtu?: number;
  /** 1.1.0 */
  advmss?: number;
  /** 1.1.0 */
  priority?: number;
  /** 1.1.0 */
  table?: number;
  /** 1.1.0 (netlink route scope) */
  scope?: number;
}

/** A result in the internal form (the 1.1.0 fields; `cniVersion` is the version it was produced for). */
export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol?: string;
  hostIP?: string;
}

/** One `{containerID, ifname}` pair, as in GC's `cni.dev/valid-attachments`. */
export interface Attachment {
  containerID: string;
  ifname: string;
}

/** The well-known runtimeConfig keys (CONVENTIONS.md); plugins read their own keys from `NetConf.raw`. */
export interface RuntimeConfig {
  portMappings?: PortMapping[];
  ipRanges?: unknown[];
  ips?: string[];
  mac?: string;
  [key: string]: unknown;
}

/** A single plugin's configuration as it arrives on stdin (spec: "Plugin configuration objects"). */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  capabilities?: Record<string, boolean>;
  ipam?: { type: string; [key: string]: unknown };
  dns?: DNS;
  args?: Record<string, unknown>;
  runtimeConfig?: RuntimeConfig;
  /** The previous plugin's result, already read into the internal form. */
  prevResult?: Result;
  /** GC only. */
  validAttachments?: Attachment[];
  /** The object exactly as received, for plugin-specific keys. */
  raw: Record<string, unknown>;
}

/** A network configuration list (`.conflist`). */
export interface NetConfList {
  cniVersion: string;
  /** 1.1.0: versions the list is valid for; the runtime picks the highest it supports. */
  cniVersions?: string[];
  name: string;
  disableCheck?: boolean;
  /** 1.1.0 */
  disableGC?: boolean;
  /** Each entry is a plugin object without cniVersion/name (they are injected from the list). */
  plugins: Array<{ type: string; [key: string]: unknown }>;
}
