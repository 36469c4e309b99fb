/**
 * The iptables backend: each operation is one `iptables-save -t nat` (to see what exists) and one
 * `iptables-restore --noflush` (applied atomically), per address family. Chains: BERTH-M-<hash> (masquerade,
 * from POSTROUTING), BERTH-DN-<hash> (a container's host ports, from BERTH-HOSTPORT-DNAT), and the shared
 * BERTH-HOSTPORT-DNAT / -SETMARK / -MASQ created once, their jumps inserted first: a hairpinned connection
 * must be masqueraded before a container's own chain ACCEPTs traffic inside its subnet.
 */
import { runTool } from './exec';
import { requireTool } from './detect';
import { MASQ_MARK, ownerComment, ownerHash, type Family, type MasqEntry, type Owner, type PortEntry } from './types';

const DNAT = 'BERTH-HOSTPORT-DNAT';
const SETMARK = 'BERTH-HOSTPORT-SETMARK';
const HPMASQ = 'BERTH-HOSTPORT-MASQ';
const MARK = `0x${MASQ_MARK.toString(16)}/0x${MASQ_MARK.toString(16)}`;

export const masqChain = (o: Owner) => `BERTH-M-${ownerHash(o, 20)}`;
export const dnatChain = (o: Owner) => `BERTH-DN-${ownerHash(o, 19)}`;

const tools = (f: Family) => (f === 4 ? { save: 'iptables-save', restore: 'iptables-restore' } : { save: 'ip6tables-save', restore: 'ip6tables-restore' });

function q(s: string): string {
  return `"${s.replace(/["\\]/g, '')}"`;
}

async function natRules(family: Family): Promise<string[]> {
  const out = await runTool(requireTool(tools(family).save), ['-t', 'nat']);
  return out.split('\n');
}

async function restore(family: Family, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await runTool(requireTool(tools(family).restore), ['--noflush', '--wait'], ['*nat', ...lines, 'COMMIT', ''].join('\n'));
}

/** Lines deleting every jump to `chain` and the chain itself (nothing when it does not exist). */
function removal(saved: string[], chain: string): string[] {
  const lines: string[] = [];
  for (const l of saved) {
    if (l.startsWith('-A ') && new RegExp(`\\s-j ${chain}(\\s|$)`).test(l)) lines.push(`-D ${l.slice(3)}`);
  }
  if (saved.some((l) => l.startsWith(`:${chain} `))) lines.push(`-F ${chain}`, `-X ${chain}`);
  return lines;
}

export async function setupMasq(owner: Owner, entries: MasqEntry[]): Promise<void> {
  const chain = masqChain(owner);
  const c = `-m comment --comment ${q(ownerComment(owner))}`;
  for (const family of [4, 6] as const) {
    const mine = entries.filter((e) => e.family === family);
    if (mine.length === 0) continue;
    const multicast = family === 4 ? '224.0.0.0/4' : 'ff00::/8';
    const lines = [`:${chain} - [0:0]`];
    for (const e of mine) lines.push(`-A ${chain} -d ${e.subnet} ${c} -j ACCEPT`);
    lines.push(`-A ${chain} ! -d ${multicast} ${c} -j MASQUERADE`);
    for (const e of mine) lines.push(`-A POSTROUTING -s ${e.ip} ${c} -j ${chain}`);
    await restore(family, lines);
  }
}

export async function teardownMasq(owner: Owner, families: Family[]): Promise<void> {
  for (const family of families) await restore(family, removal(await natRules(family), masqChain(owner)));
}

export async function setupPorts(owner: Owner, entries: PortEntry[]): Promise<void> {
  const chain = dnatChain(owner);
  const c = `-m comment --comment ${q(ownerComment(owner))}`;
  for (const family of [4, 6] as const) {
    const mine = entries.filter((e) => e.family === family);
    if (mine.length === 0) continue;
    const saved = await natRules(family);
    const lines: string[] = [];
    const has = (name: string) => saved.some((l) => l.startsWith(`:${name} `));
    if (!has(DNAT)) {
      lines.push(`:${DNAT} - [0:0]`, `-I PREROUTING 1 -m addrtype --dst-type LOCAL -j ${DNAT}`, `-I OUTPUT 1 -m addrtype --dst-type LOCAL -j ${DNAT}`);
    }
    if (!has(SETMARK)) lines.push(`:${SETMARK} - [0:0]`, `-A ${SETMARK} -j MARK --set-xmark ${MARK}`);
    if (!has(HPMASQ)) lines.push(`:${HPMASQ} - [0:0]`, `-I POSTROUTING 1 -j ${HPMASQ}`, `-A ${HPMASQ} -m mark --mark ${MARK} -j MASQUERADE`);
    // A repeated ADD replaces the container's chain and its jump instead of adding a second one.
    lines.push(...removal(saved, chain).filter((l) => !l.startsWith('-X ')), ...(has(chain) ? [] : [`:${chain} - [0:0]`]));
    for (const e of mine) {
      const match = `-p ${e.protocol}${e.hostIP ? ` -d ${e.hostIP}` : ''} --dport ${e.hostPort}`;
      lines.push(`-A ${chain} ${match} -s ${e.subnet} -j ${SETMARK}`);
      if (family === 4) lines.push(`-A ${chain} ${match} -s 127.0.0.1 -j ${SETMARK}`);
      const to = family === 4 ? `${e.containerIP}:${e.containerPort}` : `[${e.containerIP}]:${e.containerPort}`;
      lines.push(`-A ${chain} ${match} -j DNAT --to-destination ${to}`);
    }
    lines.push(`-A ${DNAT} ${c} -j ${chain}`);
    await restore(family, lines);
  }
}

export async function teardownPorts(owner: Owner, families: Family[]): Promise<void> {
  for (const family of families) await restore(family, removal(await natRules(family), dnatChain(owner)));
}

/** Every per-container chain name present (for tests and GC). */
export async function ownedChains(family: Family): Promise<string[]> {
  return (await natRules(family)).filter((l) => /^:BERTH-(M|DN)-/.test(l)).map((l) => l.slice(1).split(' ')[0]);
}

/** Removes the shared chains when no container uses them any more (teardown of a node's CNI, tests). */
export async function pruneShared(): Promise<void> {
  for (const family of [4, 6] as const) {
    const saved = await natRules(family);
    if (saved.some((l) => /^:BERTH-(M|DN)-/.test(l))) continue;
    await restore(family, [DNAT, HPMASQ, SETMARK].flatMap((c) => removal(saved, c)));
  }
}
