/**
 * berthd's Prometheus endpoint on a real berthd: where it listens (metricsAddress, `<state>/metrics.addr`), that
 * the families move with real work (CRI calls by method and code, an image pulled from Debian's
 * docker-registry, a pod through berth-bridge with its CNI timings, a running container), that a bad address
 * is refused naming the field, and that stopping berthd removes the address file.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { validateConfig } from '../../src/cri/config';
import { OCT, PID, cleanupNet, requireNet, trackLink } from '../cni/net-helpers';
import { removeCgroupDirs } from '../helpers/oci';
import { cleanupTempDirs, pushImage, requireTools, startRegistry, stopAll, tempDir, type RegistryProcess } from '../image/helpers';
import { berthdSync, criClient, removeAllPods, requireBuilt, shutDownBerthd, startBerthd, writeBridgeNetwork, type Berthd, type CriClient } from './helpers';

jest.setTimeout(120000);

const BRIDGE = `bmx${PID}`;
const CGROUP_ROOT = `berth-mx-${PID}`;
let registry: RegistryProcess;
let berthd: Berthd;
let cri: CriClient;
let image: string;
let dir: string;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- CRI replies as decoded JSON

function get(address: string, p: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(`http://${address}${p}`, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

/** The value of one sample (`name{labels}` exactly as exposed, labels in prom-client's order), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(): Promise<string> {
  const addr = fs.readFileSync(path.join(berthd.state, 'metrics.addr'), 'utf8').trim();
  const r = await get(addr, '/metrics');
  expect(r.status).toBe(200);
  expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
  return r.body;
}

beforeAll(async () => {
  requireTools('docker-registry', 'tar');
  requireBuilt();
  requireNet();
  registry = await startRegistry({ storage: tempDir('berth-mx-registry-') });
  await pushImage(registry.host, 'mx', 'v1', [{ 'bin/busybox': { copyFrom: '/bin/busybox' } }]);
  image = `${registry.host}/mx:v1`;
  dir = tempDir('berth-mx-');
  trackLink(BRIDGE);
  writeBridgeNetwork(path.join(dir, 'net.d'), { name: `mx${PID}`, bridge: BRIDGE, subnet: `10.${OCT}.78.0/24`, ipamDir: path.join(dir, 'ipam') });
  berthd = await startBerthd({ config: { cni: { confDir: path.join(dir, 'net.d'), binDirs: [path.join(dir, 'no-bin')] } } });
  cri = criClient(berthd.endpoint);
});

afterAll(async () => {
  try {
    await shutDownBerthd(cri, berthd);
    await stopAll();
    await cleanupNet();
    removeCgroupDirs(CGROUP_ROOT);
  } finally {
    cleanupTempDirs();
  }
});

test('metricsAddress: loopback only, "" or off for none, the field named when wrong', () => {
  expect(validateConfig({}).metricsAddress).toBe('127.0.0.1:0');
  expect(validateConfig({ metricsAddress: '127.0.0.2:9102' }).metricsAddress).toBe('127.0.0.2:9102');
  expect(validateConfig({ metricsAddress: '[::1]:9102' }).metricsAddress).toBe('[::1]:9102');
  expect(validateConfig({ metricsAddress: 'off' }).metricsAddress).toBe('');
  expect(validateConfig({ metricsAddress: '' }).metricsAddress).toBe('');
  expect(() => validateConfig({ metricsAddress: '0.0.0.0:9102' })).toThrow(/metricsAddress: .*loopback/);
  expect(() => validateConfig({ metricsAddress: '10.0.0.1:9102' })).toThrow(/metricsAddress: .*loopback/);
  expect(() => validateConfig({ metricsAddress: '127.0.0.1:99999' })).toThrow(/metricsAddress: /);
  expect(() => validateConfig({ metricsAddress: 9102 })).toThrow(/metricsAddress: /);
  const file = path.join(tempDir('berth-mx-cfg-'), 'config.yaml');
  fs.writeFileSync(file, 'metricsAddress: "192.168.1.1:80"\n');
  const r = berthdSync(['--config', file, '--check-config']);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/metricsAddress/);
});

test('the endpoint is on loopback, named in <state>/metrics.addr, and answers /metrics only', async () => {
  const addr = fs.readFileSync(path.join(berthd.state, 'metrics.addr'), 'utf8');
  expect(addr).toMatch(/^127\.0\.0\.1:\d+\n$/);
  expect((await get(addr.trim(), '/')).status).toBe(404);
  const text = await scrape();
  expect(text).toMatch(/^berth_build_info\{component="berthd",version="[^"]+"\} 1$/m);
  for (const state of ['creating', 'created', 'running', 'exited']) expect(sample(text, `berth_containers{state="${state}"}`)).toBe(0);
  for (const state of ['creating', 'ready', 'notready']) expect(sample(text, `berth_sandboxes{state="${state}"}`)).toBe(0);
  expect(sample(text, 'berth_monitors')).toBe(0);
});

test('CRI calls, an image pull, a pod and its container show up in the families', async () => {
  await cri.runtime('Version', {});
  await cri.runtime('Version', {});
  await expect(cri.runtime('ContainerStatus', { containerId: 'no-such-container' })).rejects.toThrow();
  await cri.image('PullImage', { image: { image } });
  const seq = Date.now();
  const config = {
    metadata: { name: `mx${seq}`, namespace: 'default', uid: `uid-mx-${PID}-${seq}`, attempt: 0 },
    linux: { cgroupParent: `/${CGROUP_ROOT}/pod`, securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
  const pod = await cri.runtime<Obj>('RunPodSandbox', { config, runtimeHandler: '' });
  const c = await cri.runtime<Obj>('CreateContainer', {
    podSandboxId: pod.podSandboxId, sandboxConfig: config,
    config: { metadata: { name: 'sleeper', attempt: 0 }, image: { image }, command: ['/bin/busybox'], args: ['sleep', '300'] },
  });
  await cri.runtime('StartContainer', { containerId: c.containerId });

  const text = await scrape();
  const runtimeSvc = 'service="runtime.v1.RuntimeService"';
  expect(sample(text, `berth_cri_operations_total{${runtimeSvc},method="Version",code="OK"}`)).toBe(2);
  expect(sample(text, `berth_cri_operations_total{${runtimeSvc},method="ContainerStatus",code="NotFound"}`)).toBe(1);
  expect(sample(text, `berth_cri_operations_total{service="runtime.v1.ImageService",method="PullImage",code="OK"}`)).toBe(1);
  expect(sample(text, `berth_cri_operation_duration_seconds_count{${runtimeSvc},method="RunPodSandbox"}`)).toBe(1);
  expect(sample(text, 'berth_image_pull_duration_seconds_count')).toBe(1);
  // The image's blobs are the busybox layer and the config: at least the static busybox's size came in.
  expect(sample(text, 'berth_image_pull_bytes_total')).toBeGreaterThan(fs.statSync('/bin/busybox').size / 4);
  expect(sample(text, 'berth_pod_start_duration_seconds_count')).toBe(1);
  expect(sample(text, 'berth_cni_operation_duration_seconds_count{plugin="berth-bridge",command="ADD"}')).toBe(1);
  expect(sample(text, 'berth_cni_operation_duration_seconds_count{plugin="berth-loopback",command="ADD"}')).toBe(1);
  expect(sample(text, 'berth_sandboxes{state="ready"}')).toBe(1);
  expect(sample(text, 'berth_containers{state="running"}')).toBe(1);
  expect(sample(text, 'berth_monitors')).toBe(1);

  await removeAllPods(cri);
  const after = await scrape();
  expect(sample(after, 'berth_sandboxes{state="ready"}')).toBe(0);
  expect(sample(after, 'berth_containers{state="running"}')).toBe(0);
  expect(sample(after, 'berth_cni_operation_duration_seconds_count{plugin="berth-bridge",command="DEL"}')).toBeGreaterThanOrEqual(1);
  // A second pull of the same image downloads nothing.
  await cri.image('PullImage', { image: { image } });
  expect(sample(await scrape(), 'berth_image_pull_bytes_total')).toBe(sample(after, 'berth_image_pull_bytes_total'));
});

test('metricsAddress off: no endpoint, no address file; stopping berthd removes the file it wrote', async () => {
  const off = await startBerthd({ config: { metricsAddress: 'off' } });
  try {
    expect(fs.existsSync(path.join(off.state, 'metrics.addr'))).toBe(false);
  } finally {
    await off.stop();
  }
  const on = await startBerthd({});
  const file = path.join(on.state, 'metrics.addr');
  expect(fs.existsSync(file)).toBe(true);
  expect(await on.stop()).toBe(0);
  expect(fs.existsSync(file)).toBe(false);
});
