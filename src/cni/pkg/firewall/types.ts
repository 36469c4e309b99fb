/**
 * What the plugins ask of the host firewall, independent of the backend: masquerading for a container's
 * addresses (bridge ipMasq) and host ports DNAT'ed to it (portmap). Each container's rules live in chains
 * named after a hash of (network, container ID), so DEL needs nothing but those two to remove them.
 */
import * as crypto from 'node:crypto';

export type Backend = 'iptables' | 'nftables';
export type Family = 4 | 6;

export interface MasqEntry {
  family: Family;
  /** The container's address (no prefix). */
  ip: string;
  /** Its subnet (traffic inside it is not masqueraded). */
  subnet: string;
}

export interface PortEntry {
  family: Family;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostPort: number;
  containerPort: number;
  /** Only traffic to this host address; all local addresses when absent. */
  hostIP?: string;
  containerIP: string;
  /** The container's subnet: traffic from it to the host port is hairpinned (marked for masquerade). */
  subnet: string;
}

/** Who the rules belong to. */
export interface Owner {
  network: string;
  containerID: string;
}

/** A short stable hash of the owner, for chain names (iptables allows 28 characters). */
export function ownerHash(o: Owner, length: number): string {
  return crypto.createHash('sha512').update(`${o.network}\0${o.containerID}`).digest('hex').slice(0, length);
}

export function ownerComment(o: Owner): string {
  return `berth name: ${o.network} id: ${o.containerID}`;
}

/** The mark portmap sets on connections that must be masqueraded (hairpin and localhost). */
export const MASQ_MARK = 0x2000;
