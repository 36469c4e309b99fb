/**
 * The CRI ImageService end to end: a real berthd (build/bin/berthd), Debian's docker-registry, and berthctl as
 * the client, with crictl's output shapes checked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanupTempDirs, makeHtpasswd, requireTools, startRegistry, stopAll, tempDir, type PushedImage, type RegistryProcess } from '../image/helpers';
import { berthctl, pushBusybox, requireBuilt, startBerthd, stopBerthds, type Berthd } from './helpers';

jest.setTimeout(120000);

let registry: RegistryProcess;
let busybox: PushedImage;
let berthd: Berthd;
let ref: string;

beforeAll(async () => {
  requireTools('docker-registry', 'htpasswd', 'tar');
  requireBuilt();
  registry = await startRegistry({ storage: tempDir('berth-cri-registry-') });
  busybox = await pushBusybox(registry.host);
  await pushBusybox(registry.host, 'other', 'v1');
  ref = `${registry.host}/busybox:latest`;
  berthd = await startBerthd();
});

afterAll(async () => {
  try {
    await stopBerthds();
    await stopAll();
  } finally {
    cleanupTempDirs();
  }
});

test('berthctl pull, then images shows the image (crictl table)', async () => {
  const pull = await berthctl(berthd.endpoint, 'pull', ref);
  expect(pull.stderr).not.toMatch(/error/i);
  expect(pull.status).toBe(0);
  expect(pull.stdout).toBe(`Image is up to date for ${busybox.config.digest}\n`);
  // Progress on stderr: each layer reported unpacked.
  for (const l of busybox.layers) expect(pull.stderr).toContain(`layer ${l.digest.slice(0, 19)}: unpacked`);

  const images = await berthctl(berthd.endpoint, 'images');
  expect(images.status).toBe(0);
  const lines = images.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^IMAGE\s+TAG\s+IMAGE ID\s+SIZE$/);
  const row = lines.find((l) => l.startsWith(`${registry.host}/busybox `));
  expect(row).toBeDefined();
  const [repo, tag, id, size] = row!.split(/\s{3,}/);
  expect(repo).toBe(`${registry.host}/busybox`);
  expect(tag).toBe('latest');
  expect(id).toBe(busybox.config.digest.slice('sha256:'.length, 'sha256:'.length + 13));
  expect(size).toMatch(/^[\d.]+(B|kB|MB)$/);
  // Columns padded as Go's tabwriter does for crictl: at least 20 wide.
  expect(lines[0].indexOf('TAG')).toBeGreaterThanOrEqual(20);
  expect(lines[0].indexOf('TAG')).toBe(row!.indexOf('latest'));
});

test('images -q, --digests, -o json, and a reference filter', async () => {
  await berthctl(berthd.endpoint, 'pull', `${registry.host}/other:v1`);
  const q = await berthctl(berthd.endpoint, 'images', '-q');
  expect(q.stdout.trim().split('\n').sort()).toHaveLength(2);
  expect(q.stdout).toContain(`${busybox.config.digest}\n`);

  const d = await berthctl(berthd.endpoint, 'images', '--digests');
  expect(d.stdout.split('\n')[0]).toMatch(/^IMAGE\s+TAG\s+DIGEST\s+IMAGE ID\s+SIZE$/);
  expect(d.stdout).toContain(busybox.manifest.digest.slice(7, 20));

  const j = await berthctl(berthd.endpoint, 'images', '-o', 'json');
  const doc = JSON.parse(j.stdout) as { images: Array<Record<string, unknown>> };
  const img = doc.images.find((i) => i.id === busybox.config.digest)!;
  expect(img).toEqual({
    id: busybox.config.digest,
    repoTags: [`${registry.host}/busybox:latest`],
    repoDigests: [`${registry.host}/busybox@${busybox.manifest.digest}`],
    size: expect.stringMatching(/^\d+$/),
    uid: null,
    username: '',
    spec: null,
    pinned: false,
  });

  const f = await berthctl(berthd.endpoint, 'images', '-q', `${registry.host}/other:v1`);
  expect(f.stdout.trim().split('\n')).toHaveLength(1);
  expect(f.stdout).not.toContain(busybox.config.digest);
});

test('inspecti prints status and verbose info as JSON; a missing image is an error', async () => {
  const r = await berthctl(berthd.endpoint, 'inspecti', ref);
  expect(r.status).toBe(0);
  const doc = JSON.parse(r.stdout) as { status: { id: string; repoTags: string[] }; info?: Record<string, unknown> };
  expect(doc.status.id).toBe(busybox.config.digest);
  expect(doc.status.repoTags).toEqual([ref]);
  expect(doc.info).toBeDefined();

  const byId = await berthctl(berthd.endpoint, 'inspecti', busybox.config.digest);
  expect(JSON.parse(byId.stdout).status.id).toBe(busybox.config.digest);

  const missing = await berthctl(berthd.endpoint, 'inspecti', `${registry.host}/nothing:here`);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toContain(`no such image "${registry.host}/nothing:here" present`);
});

test('imagefsinfo reports real usage of the root', async () => {
  const r = await berthctl(berthd.endpoint, 'imagefsinfo');
  expect(r.status).toBe(0);
  const doc = JSON.parse(r.stdout) as { status: { imageFilesystems: Array<{ timestamp: string; fsId: { mountpoint: string }; usedBytes: { value: string }; inodesUsed: { value: string } }> } };
  const fsi = doc.status.imageFilesystems[0];
  expect(fsi.fsId.mountpoint.startsWith(berthd.root)).toBe(true);
  // At least the busybox binary (≈ 1–2 MB) is stored, compressed and unpacked.
  expect(Number(fsi.usedBytes.value)).toBeGreaterThan(fs.statSync('/bin/busybox').size);
  expect(Number(fsi.inodesUsed.value)).toBeGreaterThan(3);
  expect(BigInt(fsi.timestamp)).toBeGreaterThan(BigInt(Date.now() - 60000) * 1000000n);
});

test('rmi removes by reference; the other image stays; removing again is a clear error', async () => {
  const other = `${registry.host}/other:v1`;
  const r = await berthctl(berthd.endpoint, 'rmi', other);
  expect(r.status).toBe(0);
  expect(r.stdout).toBe(`Deleted: ${other}\n`);
  const left = await berthctl(berthd.endpoint, 'images', '-q');
  expect(left.stdout.trim()).toBe(busybox.config.digest);
  const again = await berthctl(berthd.endpoint, 'rmi', other);
  expect(again.status).toBe(1);
  expect(again.stderr).toContain(`no such image ${other}`);
});

test('a bad reference is InvalidArgument; an unknown repository is NotFound', async () => {
  const bad = await berthctl(berthd.endpoint, 'pull', 'UPPER/Case::x');
  expect(bad.status).toBe(1);
  expect(bad.stderr).toMatch(/pulling image: rpc error: code = InvalidArgument desc = .*image/);
  const missing = await berthctl(berthd.endpoint, 'pull', `${registry.host}/does-not-exist:latest`);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toMatch(/rpc error: code = NotFound desc = /);
});

describe('registry with basic auth', () => {
  let authed: RegistryProcess;
  beforeAll(async () => {
    // The same storage behind a second registry that requires a password: the images are already there.
    const storage = tempDir('berth-cri-registry-auth-');
    const plain = await startRegistry({ storage });
    await pushBusybox(plain.host, 'private', 'v1');
    await plain.stop();
    authed = await startRegistry({ storage, htpasswd: makeHtpasswd({ alice: 'wonderland' }) });
  });

  test('no credentials: a clear Unauthenticated', async () => {
    const r = await berthctl(berthd.endpoint, 'pull', `${authed.host}/private:v1`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/berthctl: pulling image: rpc error: code = Unauthenticated desc = \S/);
  });

  test('wrong password: Unauthenticated; --creds: the pull works', async () => {
    const wrong = await berthctl(berthd.endpoint, 'pull', '--creds', 'alice:nope', `${authed.host}/private:v1`);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/code = Unauthenticated/);
    const ok = await berthctl(berthd.endpoint, 'pull', '--creds', 'alice:wonderland', `${authed.host}/private:v1`);
    expect(ok.stderr).not.toMatch(/rpc error/);
    expect(ok.status).toBe(0);
    const auth = Buffer.from('alice:wonderland').toString('base64');
    const viaAuth = await berthctl(berthd.endpoint, 'pull', '--auth', auth, `${authed.host}/private:v1`);
    expect(viaAuth.status).toBe(0);
  });

  test('credentials from berthd\'s config (registries.<host>.auth)', async () => {
    const b = await startBerthd({ config: { registries: { [authed.host]: { auth: { username: 'alice', password: 'wonderland' } } } } });
    const r = await berthctl(b.endpoint, 'pull', `${authed.host}/private:v1`);
    expect(r.stderr).not.toMatch(/rpc error/);
    expect(r.status).toBe(0);
    expect(await b.stop()).toBe(0);
  });
});

test('the pull is logged at info with the image, and every RPC at debug', () => {
  const lines = berthd.logs().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.some((l) => l.msg === 'pulled image' && l.level === 'info' && l.image === ref)).toBe(true);
  expect(lines.some((l) => l.msg === 'rpc' && l.level === 'debug' && l.method === 'ListImages')).toBe(true);
  expect(lines.some((l) => l.msg === 'rpc failed' && l.kind === 'Unauthenticated')).toBe(true);
});

test('berthd root holds the store; SIGTERM stops berthd cleanly and removes its socket', async () => {
  expect(fs.existsSync(path.join(berthd.root, 'image'))).toBe(true);
  expect(await berthd.stop()).toBe(0);
  expect(fs.existsSync(berthd.socket)).toBe(false);
  // The image survives a restart.
  berthd = await startBerthd({ dir: berthd.dir });
  const q = await berthctl(berthd.endpoint, 'images', '-q');
  expect(q.stdout.trim()).toContain(busybox.config.digest);
});
