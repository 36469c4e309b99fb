/**
 * berth-host-local against Debian's reference host-local (/usr/lib/cni/host-local, containernetworking-plugins):
 * the same sequence of commands on the same config gives the same addresses in the same order, the same
 * result JSON (key order aside), the same errors, and the same files on disk; and a node can switch between
 * the two on one data directory at any point.
 *
 * Known, deliberate differences (asserted here so that they stay deliberate):
 * - an exhausted range is code 11 ("try again later") for us, 999 (generic) for the reference; same message;
 * - our errors carry `cniVersion` (spec 1.0 error object); the reference 1.1.1 omits it;
 * - the reference creates a `lock` file for flock(2); we lock without a file (pkg/lock.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { bundledHostLocal, cleanupTempDirs, execRunner, hostLocalConf, invoke, json, requireCni, snapshotDir, tempDir, REFERENCE_DIR, type Invocation, type Runner } from './helpers';

let ours: Runner;
const reference = execRunner(path.join(REFERENCE_DIR, 'host-local'));

beforeAll(async () => {
  requireCni('host-local');
  ours = (await bundledHostLocal()).exec;
});
afterAll(cleanupTempDirs);

const IPAM = {
  ranges: [
    [{ subnet: '10.66.0.0/29' }, { subnet: '10.66.1.0/29', rangeStart: '10.66.1.3', gateway: '10.66.1.4' }],
    [{ subnet: 'fd66::/120', rangeStart: 'fd66::10', rangeEnd: 'fd66::18' }],
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '10.100.0.0/16', gw: '10.66.0.1' }, { dst: '::/0' }],
};

type Step = Invocation;
const add = (id: string, ifname = 'eth0', args?: string): Step => ({ command: 'ADD', containerId: id, ifname, args });
const del = (id: string, ifname = 'eth0'): Step => ({ command: 'DEL', containerId: id, ifname });
const check = (id: string, ifname = 'eth0'): Step => ({ command: 'CHECK', containerId: id, ifname });

const STEPS: Step[] = [
  add('a1'), add('a2'), add('a3', 'eth1'), add('a1'), del('a2'), del('a2'), add('a4'), add('a5'), add('a6', 'eth0', 'IP=10.66.1.7'),
  add('a7'), add('a8'), add('a9'), add('a10'), add('a11'), add('a12'), check('a1'), check('a2'), del('a1'), del('zz'), add('a13'),
  add('a14', 'eth0', 'IgnoreUnknown=1;IP=10.66.0.3'), add('a15', 'eth0', 'IP=10.66.1.4'),
];

type Outcome = { exitCode: number; body: any };

/** Runs the steps, each with runners[i % n], on one data directory. */
async function play(runners: Runner[], steps: Step[], cniVersion: string) {
  const dataDir = tempDir();
  const outcomes: Outcome[] = [];
  for (let i = 0; i < steps.length; i++) {
    const out = await invoke(runners[i % runners.length], steps[i], hostLocalConf(dataDir, IPAM, { cniVersion }));
    outcomes.push({ exitCode: out.exitCode, body: json(out) });
  }
  return { outcomes, files: snapshotDir(dataDir, (name) => name === 'lock') };
}

/** Our outcome, with the deliberate differences folded back to the reference's form. */
function asReference(o: Outcome): Outcome {
  if (o.exitCode === 0 || !o.body) return o;
  const { cniVersion: _v, ...body } = o.body;
  if (body.code === 11 && /no IP addresses available/.test(body.msg)) body.code = 999;
  return { exitCode: o.exitCode, body };
}

describe.each(['1.0.0', '0.4.0'])('cniVersion %s', (cniVersion) => {
  test('same addresses, results, errors and files as the reference plugin', async () => {
    const ref = await play([reference], STEPS, cniVersion);
    const our = await play([ours], STEPS, cniVersion);
    expect(our.outcomes.map(asReference)).toEqual(ref.outcomes);
    expect(our.files).toEqual(ref.files);
    // The sequence exercised what it means to: allocations, errors, exhaustion.
    const codes = ref.outcomes.map((o) => o.exitCode);
    expect(codes.filter((c) => c === 0).length).toBeGreaterThan(10);
    expect(ref.outcomes.some((o) => /duplicate allocation/.test(o.body?.msg ?? ''))).toBe(true);
    expect(ref.outcomes.some((o) => /no IP addresses available/.test(o.body?.msg ?? ''))).toBe(true);
    expect(ref.outcomes.some((o) => /is subnet's gateway/.test(o.body?.msg ?? ''))).toBe(true);
    expect(our.outcomes.find((o) => /no IP addresses available/.test(o.body?.msg ?? ''))!.body.code).toBe(11);
  });

  test('a node can switch between the reference and ours at any step', async () => {
    const ref = await play([reference], STEPS, cniVersion);
    const alternating = await play([reference, ours], STEPS, cniVersion);
    const alternatingOther = await play([ours, reference], STEPS, cniVersion);
    expect(alternating.outcomes.map(asReference)).toEqual(ref.outcomes);
    expect(alternating.files).toEqual(ref.files);
    expect(alternatingOther.outcomes.map(asReference)).toEqual(ref.outcomes);
    expect(alternatingOther.files).toEqual(ref.files);
  });
});

test('DEL treats files of old reference versions (container ID only) as the reference does', async () => {
  const run = async (runner: Runner) => {
    const dataDir = tempDir();
    const conf = hostLocalConf(dataDir, IPAM);
    await invoke(runner, add('old1'), conf);
    const net = path.join(dataDir, 'berthnet');
    fs.writeFileSync(path.join(net, '10.66.0.6'), 'old1');
    fs.writeFileSync(path.join(net, '10.66.0.5'), 'old2');
    const out = await invoke(runner, del('old1'), conf);
    const out2 = await invoke(runner, del('old2'), conf);
    return { codes: [out.exitCode, out2.exitCode], files: snapshotDir(dataDir, (n) => n === 'lock') };
  };
  const [ref, our] = [await run(reference), await run(ours)];
  expect(our).toEqual(ref);
  expect(Object.keys(ref.files).filter((f) => /\d$/.test(f) && !f.includes('last_reserved'))).toEqual([]);
});

test('running concurrently with the reference plugin on one directory still never hands out an address twice', async () => {
  const dataDir = tempDir();
  const conf = hostLocalConf(dataDir, { ranges: [[{ subnet: '10.67.0.0/24' }]] });
  const outs = await Promise.all(Array.from({ length: 40 }, (_, i) => invoke(i % 2 ? ours : reference, { command: 'ADD', containerId: `mix-${i}` }, conf)));
  for (const o of outs) expect(o.exitCode).toBe(0);
  const addrs = outs.map((o) => json(o).ips[0].address);
  expect(new Set(addrs).size).toBe(40);
  const files = snapshotDir(path.join(dataDir, 'berthnet'));
  outs.forEach((o, i) => expect(files[json(o).ips[0].address.split('/')[0]]).toBe(`mix-${i}\r\neth0`));
}, 60000);
