/**
 * Shared material for the CNI network suites (root, real kernel): network namespaces made with `ip netns`,
 * unique names derived from the test's pid, our plugins as executables in a temp CNI_PATH, traffic probes
 * (busybox ping, a node TCP server/client run inside a netns), and cleanup of everything created.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pruneShared, teardownMasq, teardownPorts, type Backend } from '../../src/cni/pkg/firewall';
import { atFileEnd } from '../helpers/cleanup';
import { iptables, isRoot, nftables, requireHost } from '../helpers/host';
import { addNetns, rememberRunNetns, restoreRunNetns } from '../helpers/netns';
import { bundlePlugin, REPO, tempDir } from './helpers';

export const PID = process.pid;
/** A /16-free octet for this run's subnets (10.<oct>.<n>.0/24). */
export const OCT = 100 + (PID % 100);

const links: string[] = [];
const owners: Array<{ network: string; containerID: string; backend: Backend }> = [];
const children: ChildProcess[] = [];

export function requireNet(): void {
  requireHost(isRoot());
  for (const f of [path.join(REPO, 'build/bin/berth-netlink'), '/bin/busybox', '/usr/sbin/nft', '/usr/sbin/iptables-restore', '/usr/sbin/conntrack']) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing (npm run build; hack/deps installs busybox-static, nftables, iptables, conntrack)`);
  }
  // Both firewall backends are part of what the plugins promise: the kernel must have nf_tables.
  requireHost(nftables(), iptables());
  rememberTables();
  rememberRunNetns();
}

/** A new network namespace; returns its path. */
export function netns(tag: string): string {
  return addNetns(`bcn${PID}${tag}`);
}

export const nsName = (p: string) => path.basename(p);

/** Host links the test made or expects plugins to make (bridges); deleted at cleanup. */
export function trackLink(name: string): void {
  links.push(name);
}

export function trackOwner(network: string, containerID: string, backend: Backend): void {
  owners.push({ network, containerID, backend });
}

export function inNetns(ns: string, argv: string[], timeout = 10000): string {
  return execFileSync('ip', ['netns', 'exec', nsName(ns), ...argv], { encoding: 'utf8', timeout });
}

export function ping(ns: string, ip: string): boolean {
  try {
    inNetns(ns, ['busybox', 'ping', '-c', '1', '-W', '2', ip]);
    return true;
  } catch {
    return false;
  }
}

/** A TCP server in `ns` on `port` answering every connection with `reply` and the peer address. */
export async function tcpServer(ns: string, port: number, reply: string): Promise<void> {
  const script = `require('net').createServer((s) => s.end(${JSON.stringify(reply)} + ' ' + s.remoteAddress)).listen(${port}, '::', () => console.log('ready'))`;
  const child = spawn('ip', ['netns', 'exec', nsName(ns), process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`tcp server exited ${code}`)));
  });
}

/** Connects to host:port (from `ns`, or from the host when ns is undefined); resolves with what was read. */
export function tcpGet(host: string, port: number, ns?: string): string {
  const script = `const s = require('net').connect(${port}, ${JSON.stringify(host)}); let d = ''; s.on('data', (c) => d += c); s.on('end', () => { process.stdout.write(d); process.exit(0); }); s.on('error', (e) => { process.stdout.write('ERR ' + e.code); process.exit(0); }); setTimeout(() => { process.stdout.write('TIMEOUT'); process.exit(0); }, 3000);`;
  const argv = [process.execPath, '-e', script];
  return ns ? inNetns(ns, argv) : execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' });
}

/** A free TCP port on the host (bound and released). */
export function freePort(): number {
  const out = execFileSync(process.execPath, ['-e', "const s = require('net').createServer().listen(0, () => { console.log(s.address().port); s.close(); })"], { encoding: 'utf8' });
  return Number(out.trim());
}

/** The host's first non-loopback IPv4 address. */
export function hostIPv4(): string {
  const nets = require('node:os').networkInterfaces() as Record<string, Array<{ family: string; internal: boolean; address: string }>>;
  for (const [name, addrs] of Object.entries(nets)) {
    if (name.startsWith('bt') || name.startsWith('veth') || name.startsWith('bcn')) continue;
    for (const a of addrs) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('no host IPv4 address');
}

/** A CNI_PATH with our plugins bundled fresh from src (named by type) and berth-netlink beside them. */
export async function berthBinDir(): Promise<string> {
  const dir = tempDir('berth-cni-bin-');
  for (const name of ['berth-bridge', 'berth-host-local', 'berth-loopback', 'berth-portmap']) {
    const bundle = await bundlePlugin(name, path.join(dir, 'lib'));
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(bundle)} "$@"\n`, { mode: 0o755 });
  }
  // The bundles look for berth-netlink beside themselves.
  fs.symlinkSync(path.join(REPO, 'build/bin/berth-netlink'), path.join(dir, 'lib', 'berth-netlink'));
  return dir;
}

/** Host veths attached to a bridge. */
export function bridgePorts(bridge: string): string[] {
  try {
    return fs.readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return [];
  }
}

export function linkExists(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}`);
}

/** nft tables ("family name") present before the suite touched the firewall. */
let tablesBefore: Set<string> | undefined;

function nftTables(): string[] {
  const r = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').map((l) => l.replace(/^table\s+/, '').trim()).filter(Boolean) : [];
}

function rememberTables(): void {
  if (tablesBefore) return;
  tablesBefore = new Set(nftTables());
  atFileEnd('drop the firewall tables the suite created', dropCreatedTables);
}

/**
 * iptables-nft creates its nat table (with empty base chains) on first use, and nothing removes it once the
 * last rule is gone: drop the tables that appeared during the suite and hold no rule any more.
 */
export function dropCreatedTables(): void {
  if (!tablesBefore) return;
  for (const t of nftTables()) {
    if (tablesBefore.has(t)) continue;
    const r = spawnSync('nft', ['-j', 'list', 'table', ...t.split(' ')], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const items = (JSON.parse(r.stdout) as { nftables: Array<Record<string, unknown>> }).nftables;
    if (items.some((i) => 'rule' in i || 'set' in i || 'map' in i || 'element' in i)) continue;
    spawnSync('nft', ['delete', 'table', ...t.split(' ')], { stdio: 'ignore' });
  }
}

/** Removes everything the suite made, whatever state a failed test left. */
export async function cleanupNet(): Promise<void> {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const o of owners.splice(0)) {
    await teardownMasq(o, [4, 6], o.backend).catch(() => undefined);
    await teardownPorts(o, [4, 6], o.backend).catch(() => undefined);
  }
  // The shared chains go too when no other container (another suite's, running now) still uses them.
  await pruneShared('nftables').catch(() => undefined);
  await pruneShared('iptables').catch(() => undefined);
  restoreRunNetns();
  for (const l of links.splice(0)) {
    try {
      execFileSync('ip', ['link', 'del', l], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  dropCreatedTables();
}
