/**
 * Layers are unpacked while they download (following the ingest's temp file). A layer whose bytes fail their
 * digest only at the end of the download has been unpacked by then: it must commit nothing, and the pull must
 * report the digest mismatch, not whatever the unpacking made of the bad bytes.
 */
import * as fs from 'node:fs';
import { BerthError } from '../../src/common/errors';
import { hostPlatform } from '../../src/image/registry/manifest';
import { RegistryClient } from '../../src/image/registry/client';
import { ImageStore } from '../../src/image/store/image-store';
import { cleanupTempDirs, registryBlobFile, requireTools, startProxy, startRegistry, stopAll, tempDir, type FaultProxy } from './helpers';
import { layerFrom, pushTarImage } from './image-fixtures';

describe('unpacking while the layer streams', () => {
  const stores: ImageStore[] = [];
  let proxy: FaultProxy | undefined;
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await proxy?.stop();
    await stopAll();
    cleanupTempDirs();
  });

  test('a layer that fails its digest after being unpacked mid-stream commits nothing', async () => {
    requireTools('docker-registry');
    const storage = tempDir('berth-registry-storage-');
    const reg = await startRegistry({ storage });
    const noise = fs.readFileSync('/bin/busybox');
    const img = await pushTarImage(reg.host, 'tampered', 'latest', [
      layerFrom([{ path: 'a', content: 'a' }]),
      // Uncompressed, so that a flipped byte inside the file's content still makes a well-formed tar: only the
      // digest can tell.
      layerFrom([{ path: 'noise', content: noise }, { path: 'after', content: 'x' }], 'none'),
    ], { arch: hostPlatform().architecture });
    const blob = registryBlobFile(storage, img.layers[1].digest);
    const bytes = fs.readFileSync(blob);
    bytes[bytes.length >> 1] ^= 0xff;
    fs.writeFileSync(blob, bytes);

    // Slowly, so that the unpacking follows the download rather than finding the blob complete.
    proxy = await startProxy(reg.port);
    proxy.rule = (req) => (req.url?.includes(img.layers[1].digest) ? { slow: { chunk: 64 * 1024, delayMs: 5 } } : undefined);
    const store = ImageStore.open({ root: tempDir('berth-image-root-'), client: new RegistryClient({ retries: 0 }) });
    stores.push(store);
    const events: string[] = [];
    const err = await store.pull({ reference: `${proxy.host}/tampered:latest`, onProgress: (e) => events.push(`${e.phase} ${e.digest}`) }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).message).toMatch(/digest mismatch/);
    expect(events).toContain(`unpacked ${img.layers[0].digest}`);
    expect(events).not.toContain(`unpacked ${img.layers[1].digest}`);
    expect(store.snapshots.list().map((s) => s.diffId)).toEqual([img.diffIds[0]]);
    expect(store.snapshots.tempDirs()).toEqual([]);
    expect(store.content.ingestFiles()).toEqual([]);
    expect(store.content.has(img.layers[1].digest)).toBe(false);
    expect(store.list()).toEqual([]);
  });
});
