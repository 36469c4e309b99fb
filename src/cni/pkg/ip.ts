/**
 * IP addresses and prefixes as values: parsing (strict, like Go's net.ParseIP / net.ParseCIDR), canonical
 * text (Go's net.IP.String(): dotted IPv4, RFC 5952 IPv6, IPv4-mapped IPv6 shown as IPv4), arithmetic.
 * The canonical text matters: host-local names its allocation files after it, and nodes switch between the
 * reference plugin and ours on the same data directory.
 */

export type Family = 4 | 6;

export interface IP {
  readonly family: Family;
  /** The address as an unsigned integer (32 or 128 bits). */
  readonly value: bigint;
}

export interface IPNet {
  /** The address as written (host bits kept, as Go's types.ParseCIDR keeps them). */
  readonly ip: IP;
  readonly prefix: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function bitsOf(family: Family): number {
  return BITS[family];
}

function parseIPv4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Go rejects leading zeros (ambiguous octal) and anything but decimal digits.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIPv6(s: string): bigint | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  let head = s;
  let tailV4: bigint | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tailV4 = parseIPv4(s.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = head.indexOf('::');
  if (dbl !== head.lastIndexOf('::')) return undefined;
  const groupsOf = (part: string): string[] => (part === '' ? [] : part.split(':'));
  let groups: string[];
  if (dbl >= 0) {
    const left = groupsOf(head.slice(0, dbl));
    const right = groupsOf(head.slice(dbl + 2));
    const missing = 8 - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...Array<string>(missing).fill('0'), ...right];
  } else {
    groups = head.split(':');
  }
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

/** Parses an address; IPv4-mapped IPv6 becomes IPv4 (Go's To4 canonicalisation). */
export function parseIP(s: string): IP | undefined {
  if (typeof s !== 'string') return undefined;
  if (!s.includes(':')) {
    const v = parseIPv4(s);
    return v === undefined ? undefined : { family: 4, value: v };
  }
  const v = parseIPv6(s);
  if (v === undefined) return undefined;
  if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
  return { family: 6, value: v };
}

/** Parses "addr/prefix"; the address keeps its host bits. */
export function parseCIDR(s: string): IPNet | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = s.slice(0, slash);
  const pfx = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(pfx)) return undefined;
  const isV6Text = addr.includes(':');
  const v = isV6Text ? parseIPv6(addr) : parseIPv4(addr);
  if (v === undefined) return undefined;
  const prefix = Number(pfx);
  if (prefix > (isV6Text ? 128 : 32)) return undefined;
  if (isV6Text && v >> 32n === 0xffffn && prefix >= 96) {
    // Go: an IPv4-mapped address with a /96+ mask is an IPv4 network.
    return { ip: { family: 4, value: v & 0xffffffffn }, prefix: prefix - 96 };
  }
  return { ip: { family: isV6Text ? 6 : 4, value: v }, prefix };
}

export function formatIP(ip: IP): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  }
  if (ip.value >> 32n === 0xffffn) return formatIP({ family: 4, value: ip.value & 0xffffffffn });
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: the longest run of two or more zero groups becomes "::" (the first one on a tie).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function formatCIDR(n: IPNet): string {
  return `${formatIP(n.ip)}/${n.prefix}`;
}

export function maskOf(family: Family, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/** The network address (host bits cleared). */
export function networkOf(n: IPNet): IP {
  return { family: n.ip.family, value: n.ip.value & maskOf(n.ip.family, n.prefix) };
}

/** The last address of the network (all host bits set). */
export function lastOf(n: IPNet): IP {
  const host = ((1n << BigInt(bitsOf(n.ip.family))) - 1n) ^ maskOf(n.ip.family, n.prefix);
  return { family: n.ip.family, value: networkOf(n).value | host };
}

export function contains(n: IPNet, ip: IP): boolean {
  if (ip.family !== n.ip.family) return false;
  const m = maskOf(n.ip.family, n.prefix);
  return (ip.value & m) === (n.ip.value & m);
}

export function ipEqual(a: IP, b: IP): boolean {
  return a.family === b.family && a.value === b.value;
}

/** Orders addresses of the same family; IPv4 sorts before IPv6. */
export function compareIP(a: IP, b: IP): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** The next address, wrapping at the top of the family's space. */
export function nextIP(ip: IP): IP {
  const max = (1n << BigInt(bitsOf(ip.family))) - 1n;
  return { family: ip.family, value: ip.value === max ? 0n : ip.value + 1n };
}

export function addIP(ip: IP, delta: bigint): IP {
  const max = (1n << BigInt(bitsOf(ip.family))) - 1n;
  return { family: ip.family, value: (ip.value + delta) & max };
}
