/** The host firewall facade the plugins use: masquerade and host ports per container, on either backend. */
import { withDirLock } from '../lock';
import { detectBackend } from './detect';
import * as ipt from './iptables';
import * as nft from './nft';
import type { Backend, Family, MasqEntry, Owner, PortEntry } from './types';

export * from './types';
export { detectBackend } from './detect';

const pick = (b: Backend | undefined): Backend => b ?? detectBackend();

/**
 * Changes are read-then-write (shared chains created once, jump rules found by listing): one at a time on
 * the host. Keyed on /run, a lock no other part of Berth takes.
 */
const serial = <T>(fn: () => Promise<T>): Promise<T> => withDirLock('/run', fn);

export async function setupMasq(owner: Owner, entries: MasqEntry[], backend?: Backend): Promise<void> {
  if (entries.length === 0) return;
  const b = pick(backend);
  await serial(() => (b === 'nftables' ? nft.setupMasq(owner, entries) : ipt.setupMasq(owner, entries)));
}

/** Idempotent: nothing to remove is success. */
export async function teardownMasq(owner: Owner, families: Family[] = [4, 6], backend?: Backend): Promise<void> {
  const b = pick(backend);
  await serial(() => (b === 'nftables' ? nft.teardownMasq(owner) : ipt.teardownMasq(owner, families)));
}

export async function setupPorts(owner: Owner, entries: PortEntry[], backend?: Backend): Promise<void> {
  if (entries.length === 0) return;
  const b = pick(backend);
  await serial(() => (b === 'nftables' ? nft.setupPorts(owner, entries) : ipt.setupPorts(owner, entries)));
}

export async function teardownPorts(owner: Owner, families: Family[] = [4, 6], backend?: Backend): Promise<void> {
  const b = pick(backend);
  await serial(() => (b === 'nftables' ? nft.teardownPorts(owner) : ipt.teardownPorts(owner, families)));
}

/** Per-container chains present on a backend (tests check that DEL leaves none). */
export async function ownedChains(backend: Backend): Promise<string[]> {
  if (backend === 'nftables') return nft.ownedChains();
  return [...(await ipt.ownedChains(4)), ...(await ipt.ownedChains(6))];
}

export const chainNames = (owner: Owner) => ({ iptables: [ipt.masqChain(owner), ipt.dnatChain(owner)], nftables: [nft.masqChain(owner), nft.dnatChain(owner)] });

/** Removes the backend's shared chains (or table) when no container's chains are left. */
export async function pruneShared(backend: Backend): Promise<void> {
  await serial(() => (backend === 'nftables' ? nft.pruneShared() : ipt.pruneShared()));
}
