/**
 * The client of berth-netlink (src/native/net): a plugin decides every network operation here, as typed
 * values, and hands the whole batch to ONE exec of the helper, which does the rtnetlink and setns work Node
 * cannot. The facts it reports (links, addresses, routes) come back tagged with the namespace they were read in.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { BerthError, type ErrorKind } from '../../common/errors';
import { nativeBinary } from '../../common/native';
import { CniCode, CniError } from './errors';

/** "host" is the namespace the helper started in (the caller's). */
export type NetnsRef = 'host' | string;

export type NetOp =
  | { op: 'ns'; netns: NetnsRef; optional?: boolean }
  | { op: 'bridge'; name: string; mtu?: number; promisc?: boolean }
  | { op: 'veth'; name: string; peer: string; netns: string; mtu?: number; mac?: string }
  | { op: 'set'; name: string; up?: boolean; mtu?: number; mac?: string; master?: string; promisc?: boolean; hairpin?: boolean }
  | { op: 'show'; name: string }
  | { op: 'del'; name: string }
  | { op: 'addr'; name: string; cidr: string; nodad?: boolean }
  | { op: 'gwaddr'; name: string; cidr: string; force?: boolean }
  | { op: 'route'; name: string; dst: string; gw?: string; metric?: number; mtu?: number; advmss?: number; table?: number; scope?: number }
  | { op: 'addrs'; name: string; family?: 4 | 6 }
  | { op: 'routes'; name: string }
  | { op: 'sysctl'; key: string; value: string; optional?: boolean };

export interface LinkFact {
  netns: NetnsRef;
  name: string;
  index: number;
  mac: string;
  mtu: number;
  kind: string;
  /** Index of the master (bridge), 0 when none. */
  master: number;
  up: boolean;
}

export interface NetFacts {
  links: LinkFact[];
  /** Links asked about (show/del) that did not exist, by namespace. */
  absent: Array<{ netns: NetnsRef; name: string }>;
  addrs: Array<{ netns: NetnsRef; name: string; cidr: string }>;
  routes: Array<{ netns: NetnsRef; name: string; dst: string; gw?: string; metric: number }>;
  /** `ns?` targets that did not exist. */
  missingNetns: string[];
}

export function linkIn(facts: NetFacts, netns: NetnsRef, name: string): LinkFact | undefined {
  return facts.links.filter((l) => l.netns === netns && l.name === name).pop();
}

/** build/bin/berth-netlink (BERTH_NETLINK overrides). */
export function netlinkBinary(): string {
  return nativeBinary('berth-netlink', 'BERTH_NETLINK');
}

function token(v: string | number, what: string): string {
  const s = String(v);
  if (s === '' || /[\s]/.test(s)) throw new BerthError('InvalidArgument', `${what} ${JSON.stringify(s)} cannot be passed to berth-netlink (empty or contains whitespace)`);
  return s;
}

/** One operation as the helper's input line. */
export function encodeOp(o: NetOp): string {
  const t: string[] = [];
  const kv = (k: string, v: string | number | boolean | undefined) => {
    if (v === undefined) return;
    t.push(`${k}=${token(typeof v === 'boolean' ? (v ? 1 : 0) : v, k)}`);
  };
  switch (o.op) {
    case 'ns':
      t.push(o.optional ? 'ns?' : 'ns', token(o.netns, 'netns path'));
      break;
    case 'bridge':
      t.push('bridge', token(o.name, 'bridge name'));
      kv('mtu', o.mtu);
      kv('promisc', o.promisc);
      break;
    case 'veth':
      t.push('veth', token(o.name, 'interface name'), token(o.peer, 'interface name'), token(o.netns, 'netns path'));
      kv('mtu', o.mtu);
      kv('mac', o.mac);
      break;
    case 'set':
      t.push('set', token(o.name, 'interface name'));
      if (o.up !== undefined) t.push(o.up ? 'up' : 'down');
      kv('mtu', o.mtu);
      kv('mac', o.mac);
      kv('master', o.master);
      kv('promisc', o.promisc);
      kv('hairpin', o.hairpin);
      break;
    case 'show':
    case 'del':
    case 'routes':
      t.push(o.op, token(o.name, 'interface name'));
      break;
    case 'addr':
      t.push('addr', token(o.name, 'interface name'), token(o.cidr, 'address'));
      if (o.nodad) t.push('nodad');
      break;
    case 'gwaddr':
      t.push('gwaddr', token(o.name, 'interface name'), token(o.cidr, 'address'));
      if (o.force) t.push('force');
      break;
    case 'route':
      t.push('route', token(o.name, 'interface name'), token(o.dst, 'route destination'));
      kv('gw', o.gw);
      kv('metric', o.metric);
      kv('mtu', o.mtu);
      kv('advmss', o.advmss);
      kv('table', o.table);
      kv('scope', o.scope);
      break;
    case 'addrs':
      t.push('addrs', token(o.name, 'interface name'));
      if (o.family) t.push(String(o.family));
      break;
    case 'sysctl':
      t.push(o.optional ? 'sysctl?' : 'sysctl', token(o.key, 'sysctl key'), token(o.value, 'sysctl value'));
      break;
  }
  return t.join(' ');
}

/** Reads the helper's output; an "error" line becomes a NetlinkError naming the failed operation. */
export function parseFacts(stdout: string, ops: readonly NetOp[]): NetFacts {
  const facts: NetFacts = { links: [], absent: [], addrs: [], routes: [], missingNetns: [] };
  let ns: NetnsRef = 'host';
  let finished = false;
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const w = line.split(' ');
    switch (w[0]) {
      case 'ns':
        ns = w[1];
        break;
      case 'nonetns':
        facts.missingNetns.push(w[1]);
        break;
      case 'link':
        facts.links.push({ netns: ns, name: w[1], index: Number(w[2]), mac: w[3], mtu: Number(w[4]), kind: w[5], master: Number(w[6]), up: w[7] === '1' });
        break;
      case 'absent':
        facts.absent.push({ netns: ns, name: w[1] });
        break;
      case 'addr':
        facts.addrs.push({ netns: ns, name: w[1], cidr: w[2] });
        break;
      case 'route':
        facts.routes.push({ netns: ns, name: w[1], dst: w[2], gw: w[3] === '-' ? undefined : w[3], metric: Number(w[4]) });
        break;
      case 'ok':
        finished = true;
        break;
      case 'error': {
        const index = Number(w[1]) - 1;
        throw new NetlinkError(line.slice(6 + w[1].length + 1), ops[index]);
      }
      default:
        throw new BerthError('Internal', `berth-netlink: unexpected output ${JSON.stringify(line)}`);
    }
  }
  if (!finished) throw new BerthError('Internal', `berth-netlink ended without a status; output: ${JSON.stringify(stdout.slice(0, 500))}`);
  return facts;
}

/** A failed operation: `message` is "<op> <name>: <reason>" as the helper printed it. */
export class NetlinkError extends CniError {
  readonly op?: NetOp;
  constructor(message: string, op?: NetOp) {
    const kind: ErrorKind = /File exists/.test(message) ? 'AlreadyExists' : /No such device|No such file/.test(message) ? 'NotFound' : 'Internal';
    super(CniCode.Internal, kind, message);
    this.op = op;
  }
}

/** Runs the batch in one exec of berth-netlink. */
export function runNetlink(ops: readonly NetOp[]): Promise<NetFacts> {
  const input = ops.map(encodeOp).join('\n') + '\n';
  return new Promise((resolve, reject) => {
    const child = spawn(netlinkBinary(), [], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => reject(new BerthError('Internal', `executing berth-netlink: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      try {
        const facts = parseFacts(stdout, ops);
        if (code !== 0) throw new BerthError('Internal', `berth-netlink exited with ${code}: ${Buffer.concat(err).toString('utf8').trim()}`);
        resolve(facts);
      } catch (e) {
        reject(e);
      }
    });
    child.stdin.end(input);
  });
}

const NSFS_MAGIC = 0x6e736673;

/**
 * CNI_NETNS must name a network namespace file: checked before anything is allocated, so that a bad path is
 * the spec's code 4 naming the variable and leaves nothing behind.
 */
export function checkNetnsPath(netns: string): void {
  let ok = false;
  let reason = 'is not a network namespace (not on nsfs)';
  try {
    ok = fs.statfsSync(netns).type === NSFS_MAGIC;
  } catch (e) {
    reason = `cannot be opened: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  if (!ok) throw new CniError(CniCode.InvalidEnvironment, 'InvalidArgument', `failed to open netns ${JSON.stringify(netns)}: ${reason}`, { field: 'CNI_NETNS' });
}

/** Whether a netns path still exists (DEL treats a missing one as already cleaned up). */
export function netnsExists(netns: string): boolean {
  return netns !== '' && fs.existsSync(netns);
}
