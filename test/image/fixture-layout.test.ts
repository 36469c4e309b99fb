/**
 * hack/fixtures' OCI image layout is a real image: Debian's skopeo (an independent client) pushes it to the
 * real registry, berth's image store pulls it back, and the merged rootfs runs busybox.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openImageStore, type ImageStoreApi } from '../../src/image/api';
import { overlayfs, requireHost } from '../helpers/host';
import { cleanupTempDirs, requireTools, startRegistry, stopAll, tempDir } from './helpers';

const REPO = path.resolve(__dirname, '..', '..');

describe('the fixture OCI image layout', () => {
  let store: ImageStoreApi | undefined;
  const mounts: string[] = [];

  afterAll(async () => {
    for (const m of mounts.reverse()) execFileSync('umount', [m]);
    await store?.removeRootfs('fixture-layout').catch(() => undefined);
    await store?.close();
    await stopAll();
    cleanupTempDirs();
  });

  test('skopeo pushes it, the image store pulls and unpacks it, busybox runs in it', async () => {
    requireTools('skopeo', 'chroot');
    requireHost(overlayfs());
    const fixtures = execFileSync(path.join(REPO, 'hack', 'fixtures'), { encoding: 'utf8' }).trim();
    const layout = path.join(fixtures, 'oci-layout');
    const reg = await startRegistry({ storage: tempDir('berth-registry-storage-') });
    execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/fixture/busybox:latest`], { stdio: ['ignore', 'ignore', 'pipe'] });

    store = openImageStore({ root: tempDir('berth-image-root-') });
    const image = await store.pull({ reference: `${reg.host}/fixture/busybox:latest` });
    expect(image.repoTags).toEqual([`${reg.host}/fixture/busybox:latest`]);
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    expect(image.id).toBe(manifest.config.digest);

    const rootfs = await store.prepareRootfs(image.id, 'fixture-layout');
    const merged = tempDir('berth-merged-');
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${rootfs.lowerdirs.join(':')},upperdir=${rootfs.upperdir},workdir=${rootfs.workdir}`, merged]);
    mounts.push(merged);
    const seen = execFileSync('chroot', [merged, '/bin/sh', '-c', 'echo $(cat /etc/hostname) $(stat -c %u:%g /home/user) $(stat -c %a /tmp)'], { encoding: 'utf8' });
    expect(seen).toBe('berth-fixture 1000:1000 1777\n');
  });
});
