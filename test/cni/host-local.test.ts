/**
 * berth-host-local: ADD / DEL / CHECK / GC, run in-process and as an executable on separate data directories
 * with the same sequence of commands — every output and every file on disk must be identical; no address
 * twice under 50 concurrent ADDs from separate processes; an exhausted range fails at once with code 11; the
 * lock is released when its holder is killed.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { hostLocal } from '../../src/cni/host-local/plugin';
import { candidates } from '../../src/cni/host-local/allocator';
import { loadHostLocalConfig } from '../../src/cni/host-local/config';
import { parseNetConf } from '../../src/cni/pkg/config';
import { formatIP, parseIP } from '../../src/cni/pkg/ip';
import { lockName, withDirLock } from '../../src/cni/pkg/lock';
import { bundledHostLocal, cleanupTempDirs, hostLocalConf, inprocRunner, invoke, json, ok, requireCni, snapshotDir, tempDir, type Invocation, type Runner } from './helpers';

let bundle: string;
let exec: Runner;
const inproc = inprocRunner(hostLocal);

beforeAll(async () => {
  requireCni();
  ({ bundle, exec } = await bundledHostLocal());
});
afterAll(cleanupTempDirs);

const DUAL = {
  ranges: [
    [{ subnet: '10.88.0.0/29' }],
    [{ subnet: 'fd88::/125', rangeStart: 'fd88::2', rangeEnd: 'fd88::6' }],
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd88::1' }],
};

type Step = [Invocation, Record<string, unknown>?];

/** Runs `steps` with a runner on its own data dir; returns every outcome and the final directory. */
async function play(runner: Runner, steps: Step[], ipam: Record<string, unknown>, top: Record<string, unknown> = {}) {
  const dataDir = tempDir();
  const outcomes = [];
  for (const [inv, extra] of steps) {
    const out = await invoke(runner, inv, { ...hostLocalConf(dataDir, ipam, top), ...extra });
    outcomes.push({ exitCode: out.exitCode, body: json(out) });
  }
  return { outcomes, files: snapshotDir(dataDir), dataDir };
}

const add = (id: string, ifname = 'eth0', args?: string): Step => [{ command: 'ADD', containerId: id, ifname, args }];
const del = (id: string, ifname = 'eth0'): Step => [{ command: 'DEL', containerId: id, ifname }];
const check = (id: string, prevResult?: unknown): Step => [{ command: 'CHECK', containerId: id }, prevResult ? { prevResult } : undefined];

describe('in-process and executable give identical results', () => {
  const steps: Step[] = [
    add('c1'), add('c2'), add('c2', 'net1'), add('c1'), // duplicate attachment → error
    del('c1'), del('c1'), // second DEL succeeds
    add('c3'), add('c4'), add('c5'), add('c6'), // wraps round to the freed .2; then exhausted
    check('c2'), check('c1'), [{ command: 'DEL', containerId: 'c9', ifname: 'eth0', env: { CNI_NETNS: undefined } }],
    add('c7', 'eth0', 'IP=10.88.0.6'), del('c4'), add('c7', 'eth1', 'IgnoreUnknown=1;IP=10.88.0.6'),
  ];

  test.each(['1.1.0', '1.0.0', '0.4.0'])('cniVersion %s', async (cniVersion) => {
    const a = await play(exec, steps, DUAL, { cniVersion });
    const b = await play(inproc, steps, DUAL, { cniVersion });
    expect(b.outcomes).toEqual(a.outcomes);
    expect(b.files).toEqual(a.files);
    // And what they did is right:
    const o = a.outcomes;
    expect(o[0]).toEqual({ exitCode: 0, body: expect.objectContaining({ cniVersion, routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd88::1' }], dns: {} }) });
    expect(o[0].body.ips.map((i: any) => i.address)).toEqual(['10.88.0.2/29', 'fd88::2/125']);
    expect(o[0].body.ips.map((i: any) => i.gateway)).toEqual(['10.88.0.1', 'fd88::1']);
    if (cniVersion === '0.4.0') expect(o[0].body.ips.map((i: any) => i.version)).toEqual(['4', '6']);
    else expect(o[0].body.ips[0].version).toBeUndefined();
    expect(o[2].body.ips.map((i: any) => i.address)).toEqual(['10.88.0.4/29', 'fd88::4/125']);
    expect(o[3]).toEqual({ exitCode: 1, body: expect.objectContaining({ code: 999, msg: expect.stringMatching(/10\.88\.0\.2 has been allocated to c1, duplicate allocation is not allowed/) }) });
    expect(o[4]).toEqual({ exitCode: 0, body: undefined });
    expect(o[5]).toEqual({ exitCode: 0, body: undefined });
    expect(o[6].body.ips.map((i: any) => i.address)).toEqual(['10.88.0.5/29', 'fd88::5/125']);
    expect(o[7].body.ips.map((i: any) => i.address)).toEqual(['10.88.0.6/29', 'fd88::6/125']);
    // IPv4 wrapped to the freed .2 (.1 is the gateway); IPv6 wrapped to the freed ::2.
    expect(o[8].body.ips.map((i: any) => i.address)).toEqual(['10.88.0.2/29', 'fd88::2/125']);
    expect(o[9]).toEqual({ exitCode: 1, body: { cniVersion, code: 11, msg: 'failed to allocate for range 0: no IP addresses available in range set: 10.88.0.1-10.88.0.6' } });
    expect(o[10]).toEqual({ exitCode: 0, body: undefined });
    expect(o[11]).toEqual({ exitCode: 1, body: expect.objectContaining({ code: 999, msg: 'host-local: Failed to find address added by container c1' }) });
    expect(o[12]).toEqual({ exitCode: 0, body: undefined });
    expect(o[13].body.msg).toMatch(/10\.88\.0\.6 is not available/);
    expect(o[15].body.ips.map((i: any) => i.address)).toEqual(['10.88.0.6/29', 'fd88::6/125']);
    // On disk: the reference layout.
    const dir = a.files;
    expect(dir['berthnet/10.88.0.6']).toBe('c7\r\neth1');
    expect(dir['berthnet/fd88::6']).toBe('c7\r\neth1');
    expect(dir['berthnet/fd88::3']).toBe('c2\r\neth0');
    expect(dir['berthnet/10.88.0.3']).toBe('c2\r\neth0');
    expect(dir['berthnet/last_reserved_ip.0']).toBe('10.88.0.6');
    expect(dir['berthnet/last_reserved_ip.1']).toBe('fd88::6');
    expect(Object.keys(dir).filter((f) => f.includes('.berth-'))).toEqual([]);
  });

  test('a failed ADD leaves nothing behind (the first range set is released when the second is full)', async () => {
    const ipam = { ranges: [[{ subnet: '10.89.0.0/24' }], [{ subnet: '10.90.0.0/30' }]] };
    const a = await play(exec, [add('c1'), add('c2')], ipam);
    expect(a.outcomes[1]).toEqual({ exitCode: 1, body: expect.objectContaining({ code: 11, msg: 'failed to allocate for range 1: no IP addresses available in range set: 10.90.0.1-10.90.0.2' }) });
    expect(Object.values(a.files).filter((c) => c.startsWith('c2'))).toEqual([]);
  });
});

describe('CHECK', () => {
  test('verifies the addresses of prevResult are still reserved for the attachment', async () => {
    const dataDir = tempDir();
    const conf = hostLocalConf(dataDir, { ranges: [[{ subnet: '10.91.0.0/24' }]] });
    const result = await ok(inproc, { command: 'ADD', containerId: 'k1' }, conf);
    await ok(exec, { command: 'CHECK', containerId: 'k1' }, { ...conf, prevResult: result });
    // Someone else's file now holds k1's address: CHECK must see it.
    fs.writeFileSync(path.join(dataDir, 'berthnet', '10.91.0.2'), 'other\r\neth0');
    fs.writeFileSync(path.join(dataDir, 'berthnet', '10.91.0.9'), 'k1\r\neth0');
    const out = await invoke(exec, { command: 'CHECK', containerId: 'k1' }, { ...conf, prevResult: result });
    expect(out.exitCode).toBe(1);
    expect(json(out).msg).toMatch(/address 10\.91\.0\.2 of prevResult is not reserved/);
  });
});

describe('GC', () => {
  test('frees every address not in cni.dev/valid-attachments (1.1.0)', async () => {
    for (const runner of [exec, inproc]) {
      const dataDir = tempDir();
      const conf = hostLocalConf(dataDir, DUAL, { cniVersion: '1.1.0' });
      for (const id of ['g1', 'g2', 'g3']) await ok(runner, { command: 'ADD', containerId: id }, conf);
      // A file from an old reference version (container ID only) of a live container is kept.
      fs.writeFileSync(path.join(dataDir, 'berthnet', '10.88.0.6'), 'g1');
      await ok(runner, { command: 'GC' }, { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'g1', ifname: 'eth0' }, { containerID: 'g3', ifname: 'eth0' }] });
      const files = snapshotDir(path.join(dataDir, 'berthnet'));
      expect(Object.keys(files).sort()).toEqual(['10.88.0.2', '10.88.0.4', '10.88.0.6', 'fd88::2', 'fd88::4', 'last_reserved_ip.0', 'last_reserved_ip.1']);
      // An empty list frees everything.
      await ok(runner, { command: 'GC' }, { ...conf, 'cni.dev/valid-attachments': [] });
      expect(Object.keys(snapshotDir(path.join(dataDir, 'berthnet'))).sort()).toEqual(['last_reserved_ip.0', 'last_reserved_ip.1']);
    }
  });
});

describe('concurrency', () => {
  test('50 concurrent ADDs from separate processes get 50 distinct addresses', async () => {
    const dataDir = tempDir();
    const conf = hostLocalConf(dataDir, { ranges: [[{ subnet: '10.92.0.0/24', rangeEnd: '10.92.0.60' }], [{ subnet: '10.93.0.0/26' }]] });
    const ids = Array.from({ length: 50 }, (_, i) => `par-${i}`);
    const outs = await Promise.all(ids.map((id) => invoke(exec, { command: 'ADD', containerId: id }, conf)));
    for (const o of outs) expect(o.exitCode).toBe(0);
    const v4 = outs.map((o) => json(o).ips[0].address);
    const second = outs.map((o) => json(o).ips[1].address);
    expect(new Set(v4).size).toBe(50);
    expect(new Set(second).size).toBe(50);
    // Round-robin under the lock: exactly the first 50 addresses of each set, no gaps.
    expect([...v4].sort()).toEqual(Array.from({ length: 50 }, (_, i) => `10.92.0.${i + 2}/24`).sort());
    const files = snapshotDir(path.join(dataDir, 'berthnet'));
    ids.forEach((id, i) => expect(files[v4[i].split('/')[0]]).toBe(`${id}\r\neth0`));
    // And 50 concurrent DELs free them all.
    const dels = await Promise.all(ids.map((id) => invoke(exec, { command: 'DEL', containerId: id }, conf)));
    for (const o of dels) expect(o.exitCode).toBe(0);
    expect(Object.keys(snapshotDir(path.join(dataDir, 'berthnet'))).sort()).toEqual(['last_reserved_ip.0', 'last_reserved_ip.1']);
  }, 120000);

  test('processes and in-process calls racing for the last addresses: each address once, the rest fail with code 11', async () => {
    const dataDir = tempDir();
    const conf = hostLocalConf(dataDir, { ranges: [[{ subnet: '10.94.0.0/28' }]] }); // 13 allocatable
    const jobs = Array.from({ length: 20 }, (_, i) => invoke(i % 2 ? exec : inproc, { command: 'ADD', containerId: `race-${i}` }, conf));
    const outs = await Promise.all(jobs);
    const won = outs.filter((o) => o.exitCode === 0).map((o) => json(o).ips[0].address);
    const lost = outs.filter((o) => o.exitCode !== 0).map((o) => json(o));
    expect(won.length).toBe(13);
    expect(new Set(won).size).toBe(13);
    expect(lost.length).toBe(7);
    for (const l of lost) expect(l).toMatchObject({ code: 11, msg: expect.stringMatching(/no IP addresses available in range set: 10\.94\.0\.1-10\.94\.0\.14/) });
  }, 60000);

  test('a lock holder killed with SIGKILL releases the lock (no stale lock)', async () => {
    const dir = tempDir();
    // A child process takes the lock the same way (abstract socket named after the directory) and hangs.
    const name = lockName(dir);
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(name)}, () => console.log('held'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('exit', () => reject(new Error('lock holder exited early')));
      });
      let acquired = false;
      const pending = withDirLock(dir, () => (acquired = true), { timeoutMs: 10000 });
      await new Promise((r) => setTimeout(r, 200));
      expect(acquired).toBe(false);
      child.kill('SIGKILL');
      await pending;
      expect(acquired).toBe(true);
      // A waiter that gives up gets "try again later".
      const again = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(name)}, () => console.log('held'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        await new Promise<void>((resolve) => again.stdout!.once('data', () => resolve()));
        await expect(withDirLock(dir, () => 1, { timeoutMs: 300 })).rejects.toMatchObject({ code: 11 });
      } finally {
        again.kill('SIGKILL');
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('crash safety', () => {
  test('ADDs killed with SIGKILL at random points: complete files only, no stale lock, DEL + GC converge', async () => {
    const dataDir = tempDir();
    const conf = hostLocalConf(dataDir, { ranges: [[{ subnet: '10.95.0.0/24' }]] }, { cniVersion: '1.1.0' });
    const netDir = path.join(dataDir, 'berthnet');
    const ids = Array.from({ length: 30 }, (_, i) => `crash-${i}`);
    const killed = new Set<string>();
    const runs = ids.map((id, i) => {
      const child = spawn(process.execPath, [bundle], {
        env: { PATH: process.env.PATH, CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: '/x' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(JSON.stringify(conf));
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      if (i % 2 === 0) {
        killed.add(id);
        setTimeout(() => child.kill('SIGKILL'), 40 + ((i * 7) % 60));
      }
      return new Promise<{ id: string; code: number | null; out: string }>((resolve) => child.on('close', (code) => resolve({ id, code, out })));
    });
    const results = await Promise.all(runs);
    // Every address file is complete and names one of our containers; no container holds two addresses.
    const owners = new Map<string, string>();
    for (const [name, content] of Object.entries(snapshotDir(netDir))) {
      if (!parseIP(name)) continue;
      expect(content).toMatch(/^crash-\d+\r\neth0$/);
      expect(owners.has(content)).toBe(false);
      owners.set(content, name);
    }
    // Every ADD that answered got what its file says.
    for (const r of results.filter((x) => x.code === 0)) expect(owners.get(`${r.id}\r\neth0`)).toBe(json({ exitCode: 0, stdout: r.out, stderr: '' }).ips[0].address.split('/')[0]);
    // The runtime's part: a DEL for every ADD that did not succeed; the lock is free at once.
    const failed = results.filter((x) => x.code !== 0).map((x) => x.id);
    for (const id of failed) await ok(exec, { command: 'DEL', containerId: id }, conf);
    const live = results.filter((x) => x.code === 0).map((x) => x.id);
    await ok(inproc, { command: 'GC' }, { ...conf, 'cni.dev/valid-attachments': live.map((containerID) => ({ containerID, ifname: 'eth0' })) });
    const left = Object.entries(snapshotDir(netDir)).filter(([n]) => parseIP(n)).map(([, c]) => c.split('\r\n')[0]).sort();
    expect(left).toEqual([...live].sort());
    expect(fs.readdirSync(netDir).filter((n) => n.startsWith('.berth-'))).toEqual([]);
    // And allocation goes on.
    await ok(exec, { command: 'ADD', containerId: 'after-crash' }, conf);
    expect(killed.size).toBe(15);
  }, 60000);
});

describe('allocation order (unit)', () => {
  const conf = (ipam: Record<string, unknown>) => loadHostLocalConfig(parseNetConf(JSON.stringify(hostLocalConf('/nonexistent', ipam))), []);

  test('starts at rangeStart, skips the gateway, wraps once across ranges', () => {
    const c = conf({ ranges: [[{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/30', gateway: '10.0.1.2' }]] });
    expect([...candidates(c.ranges[0], undefined)].map((x) => formatIP(x.ip))).toEqual(['10.0.0.2', '10.0.1.1']);
    expect([...candidates(c.ranges[0], parseIP('10.0.0.2'))].map((x) => formatIP(x.ip))).toEqual(['10.0.1.1', '10.0.0.2']);
    // A last-reserved address outside the set (ranges changed) restarts at the beginning.
    expect([...candidates(c.ranges[0], parseIP('192.168.0.1'))].map((x) => formatIP(x.ip))).toEqual(['10.0.0.2', '10.0.1.1']);
  });

  test('old single-range form comes first; runtimeConfig.ipRanges before that; defaults', () => {
    const c = loadHostLocalConfig(parseNetConf(JSON.stringify({
      ...hostLocalConf('/d', { subnet: '10.1.0.0/24', ranges: [[{ subnet: 'fd01::/64' }]] }),
      runtimeConfig: { ipRanges: [[{ subnet: '10.2.0.0/16' }]] },
    })), []);
    expect(c.ranges.map((s) => formatIP(s[0].subnet.ip))).toEqual(['10.2.0.0', '10.1.0.0', 'fd01::']);
    expect(formatIP(c.ranges[1][0].rangeEnd)).toBe('10.1.0.254');
    expect(formatIP(c.ranges[2][0].rangeEnd)).toBe('fd01::ffff:ffff:ffff:ffff');
    expect(formatIP(c.ranges[2][0].gateway)).toBe('fd01::1');
    expect(c.dataDir).toBe('/d');
    expect(loadHostLocalConfig(parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 't', ipam: { subnet: '10.0.0.0/24' } })), []).dataDir).toBe('/var/lib/cni/networks');
  });
});
