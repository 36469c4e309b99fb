/**
 * `berth-agent install` and `berth-agent uninstall` (the real bundle, --service-manager direct) on an empty
 * host root: the stack copied and made current, berthd's config with kubelet's cgroup driver, Berth's CNI
 * network (the node has none), berthd started and healthy over CRI; a second install keeps the same berthd
 * process; uninstall stops it and removes all of it, and refuses on a node whose kubelet runs on berthd.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkBerthd } from '../../src/agent/service/health';
import { cmdline, isAlive } from '../../src/agent/service/proc';
import { readRecord, RECORD_NAME } from '../../src/agent/service/record';
import { requireBuilt } from '../cri/helpers';
import { atFileEnd } from '../helpers/cleanup';
import { cleanupTempDirs, tempDir } from '../image/helpers';

jest.setTimeout(120_000);

const REPO = path.resolve(__dirname, '..', '..');
const AGENT = path.join(REPO, 'build', 'bin', 'berth-agent');
let hostRoot = '';

function agent(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(AGENT, [...args, '--host-root', hostRoot, '--service-manager', 'direct', '--node-name', 'install-test'], { encoding: 'utf8', timeout: 100_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const record = () => readRecord(path.join(hostRoot, 'run/berth', RECORD_NAME));
const underRoot = (): number[] => fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)
  .filter((pid) => pid !== process.pid && cmdline(pid).some((a) => a.includes(hostRoot)));

function killAll(): void {
  for (const pid of hostRoot ? underRoot() : []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

beforeAll(() => {
  requireBuilt();
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} is missing: npm run build`);
  atFileEnd('berthd started by berth-agent install', killAll);
  hostRoot = path.join(tempDir('berth-agent-install-'), 'host');
  // A kubeadm-style kubelet config that names the cgroup driver berthd must take.
  fs.mkdirSync(path.join(hostRoot, 'var/lib/kubelet'), { recursive: true });
  fs.writeFileSync(path.join(hostRoot, 'var/lib/kubelet/config.yaml'), 'kind: KubeletConfiguration\ncgroupDriver: cgroupfs\n');
});

afterAll(() => {
  killAll();
  cleanupTempDirs();
});

test('install puts the stack in place and starts a healthy berthd', async () => {
  const r = agent('install');
  expect(r.stderr).not.toMatch(/"level":"error"/);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^installed: stack 0\.1\.0;/);
  expect(fs.readlinkSync(path.join(hostRoot, 'opt/berth/current'))).toBe('0.1.0');
  expect(fs.existsSync(path.join(hostRoot, 'opt/berth/0.1.0/bin/berthd'))).toBe(true);
  expect(fs.existsSync(path.join(hostRoot, 'opt/berth/0.1.0/lib/task.proto'))).toBe(true);
  const config = fs.readFileSync(path.join(hostRoot, 'etc/berth/config.yaml'), 'utf8');
  expect(config).toMatch(/^# Written by berth-agent/);
  expect(config).toMatch(/^cgroupDriver: cgroupfs$/m);
  expect(config).toContain(`listen: unix://${hostRoot}/run/berth/berthd.sock`);
  expect(fs.existsSync(path.join(hostRoot, 'etc/cni/net.d/10-berth.conflist'))).toBe(true);
  const h = await checkBerthd(path.join(hostRoot, 'run/berth/berthd.sock'));
  expect(h).toMatchObject({ answered: true, version: '0.1.0' });
  const rec = record();
  expect(rec && isAlive(rec)).toBe(true);
});

test('a second install (an agent restart) keeps the running berthd', () => {
  const before = record();
  const r = agent('install');
  expect(r.status).toBe(0);
  expect(record()).toEqual(before);
  expect(before && isAlive(before)).toBe(true);
});

test('uninstall refuses while kubelet runs on berthd, then removes everything it added', () => {
  const kubeletEnv = path.join(hostRoot, 'var/lib/kubelet/kubeadm-flags.env');
  fs.writeFileSync(kubeletEnv, `KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix://${hostRoot}/run/berth/berthd.sock"\n`);
  const refused = agent('uninstall');
  expect(refused.status).not.toBe(0);
  expect(refused.stderr).toMatch(/kubelet on this node uses berthd.*migrate/);
  expect(fs.existsSync(path.join(hostRoot, 'opt/berth/current'))).toBe(true);

  fs.rmSync(kubeletEnv);
  const rec = record();
  const r = agent('uninstall');
  expect(r.stderr).toMatch(/"msg":"uninstalled"/);
  expect(r.status).toBe(0);
  expect(rec && isAlive(rec)).toBe(false);
  for (const p of ['opt/berth', 'etc/berth/config.yaml', 'etc/berth/runtimes.d', 'etc/cni/net.d/10-berth.conflist']) {
    expect([p, fs.existsSync(path.join(hostRoot, p))]).toEqual([p, false]);
  }
  // The node's own kubelet config is not ours and stays.
  expect(fs.existsSync(path.join(hostRoot, 'var/lib/kubelet/config.yaml'))).toBe(true);
  expect(underRoot()).toEqual([]);
});
