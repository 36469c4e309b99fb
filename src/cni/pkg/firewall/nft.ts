/**
 * The nftables backend: Berth's own table `inet berth-cni`, changed with one `nft -f -` transaction per
 * operation (plus one listing on DEL, to find the handles of the jump rules). Chains: `postrouting` (nat,
 * jumps to each container's `masq-<hash>`), `hostports` (jumps to each container's `dn-<hash>`), reached
 * from `hostports-pre` / `hostports-out` for local destinations, and `hostports-masq` for marked traffic.
 * Static chains are flushed and refilled in the same transaction, so repeating an ADD never duplicates them.
 * hostports-masq runs just before `postrouting` (priority 99 < srcnat 100): a hairpinned connection must be
 * masqueraded even though the container's own masquerade chain accepts traffic inside its subnet.
 */
import { runTool } from './exec';
import { requireTool } from './detect';
import { MASQ_MARK, ownerComment, ownerHash, type MasqEntry, type Owner, type PortEntry } from './types';

export const TABLE = 'inet berth-cni';
export const masqChain = (o: Owner) => `masq-${ownerHash(o, 24)}`;
export const dnatChain = (o: Owner) => `dn-${ownerHash(o, 24)}`;

const q = (s: string) => `"${s.replace(/["\\]/g, '')}"`;
const ipKw = (family: 4 | 6) => (family === 4 ? 'ip' : 'ip6');
const MARK = `0x${MASQ_MARK.toString(16)}`;

async function apply(lines: string[]): Promise<void> {
  await runTool(requireTool('nft'), ['-f', '-'], lines.join('\n') + '\n');
}

function base(): string[] {
  return [
    `add table ${TABLE}`,
    `add chain ${TABLE} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
  ];
}

export async function setupMasq(owner: Owner, entries: MasqEntry[]): Promise<void> {
  const chain = masqChain(owner);
  const lines = [...base(), `add chain ${TABLE} ${chain}`, `flush chain ${TABLE} ${chain}`];
  const c = `comment ${q(ownerComment(owner))}`;
  for (const e of entries) lines.push(`add rule ${TABLE} ${chain} ${ipKw(e.family)} daddr ${e.subnet} accept`);
  for (const f of [4, 6] as const) {
    if (!entries.some((e) => e.family === f)) continue;
    lines.push(`add rule ${TABLE} ${chain} ${ipKw(f)} daddr != ${f === 4 ? '224.0.0.0/4' : 'ff00::/8'} masquerade`);
  }
  for (const e of entries) lines.push(`add rule ${TABLE} postrouting ${ipKw(e.family)} saddr ${e.ip} jump ${chain} ${c}`);
  await apply(lines);
}

export async function setupPorts(owner: Owner, entries: PortEntry[]): Promise<void> {
  const chain = dnatChain(owner);
  // Replace an earlier ADD's jump (normally none) in the same transaction.
  const stale = (await listing()).filter((r) => r.target === chain);
  const lines = [
    ...base(),
    `add chain ${TABLE} hostports`,
    `add chain ${TABLE} hostports-pre { type nat hook prerouting priority -100; policy accept; }`,
    `add chain ${TABLE} hostports-out { type nat hook output priority -100; policy accept; }`,
    `add chain ${TABLE} hostports-masq { type nat hook postrouting priority 99; policy accept; }`,
    `flush chain ${TABLE} hostports-pre`,
    `flush chain ${TABLE} hostports-out`,
    `flush chain ${TABLE} hostports-masq`,
    `add rule ${TABLE} hostports-pre fib daddr type local jump hostports`,
    `add rule ${TABLE} hostports-out fib daddr type local jump hostports`,
    `add rule ${TABLE} hostports-masq meta mark & ${MARK} == ${MARK} masquerade`,
    ...stale.map((r) => `delete rule ${TABLE} ${r.chain} handle ${r.handle}`),
    `add chain ${TABLE} ${chain}`,
    `flush chain ${TABLE} ${chain}`,
  ];
  for (const e of entries) {
    const ip = ipKw(e.family);
    const match = `meta nfproto ${e.family === 4 ? 'ipv4' : 'ipv6'}${e.hostIP ? ` ${ip} daddr ${e.hostIP}` : ''} ${e.protocol} dport ${e.hostPort}`;
    lines.push(`add rule ${TABLE} ${chain} ${match} ${ip} saddr ${e.subnet} meta mark set meta mark | ${MARK}`);
    if (e.family === 4) lines.push(`add rule ${TABLE} ${chain} ${match} ip saddr 127.0.0.1 meta mark set meta mark | ${MARK}`);
    const to = e.family === 4 ? `${e.containerIP}:${e.containerPort}` : `[${e.containerIP}]:${e.containerPort}`;
    lines.push(`add rule ${TABLE} ${chain} ${match} dnat ${ip} to ${to}`);
  }
  lines.push(`add rule ${TABLE} hostports jump ${chain} comment ${q(ownerComment(owner))}`);
  await apply(lines);
}

interface JumpRule {
  chain: string;
  target: string;
  handle: number;
}

/** The jump rules of our table and its chain names; empty when the table does not exist. */
async function listing(): Promise<JumpRule[] & { chains?: string[] }> {
  let text: string;
  try {
    text = await runTool(requireTool('nft'), ['-a', 'list', 'table', ...TABLE.split(' ')]);
  } catch (err) {
    if (/No such file or directory/.test((err as Error).message)) return Object.assign([], { chains: [] });
    throw err;
  }
  const rules: JumpRule[] & { chains?: string[] } = [];
  const chains: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const ch = /^chain (\S+) \{/.exec(line);
    if (ch) {
      current = ch[1];
      chains.push(current);
      continue;
    }
    const j = /\bjump (\S+)\b.*# handle (\d+)$/.exec(line);
    if (j) rules.push({ chain: current, target: j[1], handle: Number(j[2]) });
  }
  rules.chains = chains;
  return rules;
}

async function teardown(chain: string): Promise<void> {
  const rules = await listing();
  const lines = rules.filter((r) => r.target === chain).map((r) => `delete rule ${TABLE} ${r.chain} handle ${r.handle}`);
  if (rules.chains?.includes(chain)) lines.push(`delete chain ${TABLE} ${chain}`);
  if (lines.length > 0) await apply(lines);
}

export const teardownMasq = (owner: Owner): Promise<void> => teardown(masqChain(owner));
export const teardownPorts = (owner: Owner): Promise<void> => teardown(dnatChain(owner));

/** Every per-container chain name present (for tests and GC). */
export async function ownedChains(): Promise<string[]> {
  return ((await listing()).chains ?? []).filter((c) => /^(masq|dn)-/.test(c));
}

/** Removes Berth's table when no container uses it any more (teardown of a node's CNI, tests). */
export async function pruneShared(): Promise<void> {
  const rules = await listing();
  if (!rules.chains || rules.chains.length === 0 || rules.chains.some((c) => /^(masq|dn)-/.test(c))) return;
  await apply([`delete table ${TABLE}`]);
}
