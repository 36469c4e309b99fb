/**
 * kill -9 berthd in the middle of a pull (a registry slowed by a throttling proxy), restart on the same root:
 * no partial image is visible, no temp data is left, every stored blob matches its digest, and the pull
 * can be repeated.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanupTempDirs, requireTools, startRegistry, stopAll, tempDir } from '../image/helpers';
import { berthctl, pushBigImage, requireBuilt, startBerthd, startSlowProxy, stopBerthds, waitFor, walk, type SlowProxy } from './helpers';

jest.setTimeout(180000);

let proxy: SlowProxy | undefined;

beforeAll(() => {
  requireTools('docker-registry', 'tar');
  requireBuilt();
});

afterAll(async () => {
  try {
    await proxy?.stop();
    await stopBerthds();
    await stopAll();
  } finally {
    cleanupTempDirs();
  }
});

/** Names the store uses for work in progress (content ingests, snapshot builds, atomic-write temps). */
function tempEntries(root: string): string[] {
  return walk(root).filter((p) => /(^|\/)\.tmp-|\.tmp$/.test(p) || /content\/ingest\/./.test(p));
}

function verifyBlobs(root: string): number {
  const dir = path.join(root, 'image', 'content', 'blobs', 'sha256');
  let n = 0;
  for (const hex of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const got = createHash('sha256').update(fs.readFileSync(path.join(dir, hex))).digest('hex');
    expect(`${hex}: ${got}`).toBe(`${hex}: ${hex}`);
    n++;
  }
  return n;
}

test('kill -9 during a pull, restart: consistent store, no temp data, the pull repeats', async () => {
  const registry = await startRegistry({ storage: tempDir('berth-cri-crash-registry-') });
  const image = await pushBigImage(registry.host, 'crash', 8);
  proxy = await startSlowProxy(registry.port, 2 * 1024 * 1024);
  const ref = `${proxy.host}/crash:latest`;

  const first = await startBerthd();
  const pulling = berthctl(first.endpoint, 'pull', ref);
  // Kill once a good part of a blob, but not all of the image, has gone through.
  await waitFor('half a megabyte of blob data', () => proxy!.blobBytesSent() > 512 * 1024);
  expect(proxy.blobBytesSent()).toBeLessThan(image.layers.reduce((n, l) => n + l.size, 0));
  await first.kill9();
  const interrupted = await pulling;
  expect(interrupted.status).toBe(1);
  expect(interrupted.stderr).toMatch(/rpc error: code = (Unavailable|Internal|Canceled)/);

  // The crash left a download in progress behind (so the checks below are about something).
  expect(tempEntries(first.root).length).toBeGreaterThan(0);

  const second = await startBerthd({ dir: first.dir });
  // No partial image is visible.
  expect((await berthctl(second.endpoint, 'images', '-q')).stdout).toBe('');
  expect((await berthctl(second.endpoint, 'inspecti', ref)).status).toBe(1);
  // Opening the store cleared what the crash left in progress.
  expect(tempEntries(second.root)).toEqual([]);
  verifyBlobs(second.root);

  const again = await berthctl(second.endpoint, 'pull', ref);
  expect(again.stderr).not.toMatch(/rpc error/);
  expect(again.status).toBe(0);
  expect(again.stdout).toBe(`Image is up to date for ${image.config.digest}\n`);
  expect((await berthctl(second.endpoint, 'images', '-q')).stdout).toBe(`${image.config.digest}\n`);
  expect(tempEntries(second.root)).toEqual([]);
  // Manifest, config and both layers stored and intact.
  expect(verifyBlobs(second.root)).toBeGreaterThanOrEqual(4);
  expect(await second.stop()).toBe(0);
});
