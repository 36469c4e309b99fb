/**
 * The registry client and pull against Debian's docker-registry on 127.0.0.1: plain HTTP, htpasswd basic
 * auth, TLS from a generated CA (also with client certificates), bearer tokens from an in-test token server,
 * and a fault-injecting proxy for 5xx/429, cut connections, redirects and bad content types.
 */
import * as fs from 'node:fs';
import { ContentStore } from '../../src/image/content/store';
import { pull } from '../../src/image/pull';
import { parseReference } from '../../src/image/reference';
import { RegistryClient, type RegistryClientOptions } from '../../src/image/registry/client';
import { parseChallenges } from '../../src/image/registry/auth';
import { hostPlatform } from '../../src/image/registry/manifest';
import {
  cleanupTempDirs, makeHtpasswd, makePki, OCI_INDEX, DOCKER_LIST, pushImage, pushManifest, registryBlobFile, requireTools,
  startProxy, startRegistry, startTokenServer, stopAll, tempDir, berthErrorOf, type PushedImage, type RegistryProcess, type Pki,
} from './helpers';

const arch = hostPlatform().architecture;
const other = arch === 'amd64' ? 'arm64' : 'amd64';
const fast: RegistryClientOptions = { retries: 4, backoffMs: 10, maxBackoffMs: 50 };

describe('registry client against docker-registry', () => {
  let storage: string;
  let plain: RegistryProcess;
  let pki: Pki;
  let busybox: PushedImage;
  let multiHere: PushedImage;
  let multiOther: PushedImage;
  let dockerImg: PushedImage;
  let tamperDigest: PushedImage;
  let tamperSize: PushedImage;

  beforeAll(async () => {
    requireTools('docker-registry', 'openssl', 'htpasswd', 'tar', 'setpriv');
    storage = tempDir('berth-registry-storage-');
    plain = await startRegistry({ storage });
    const h = plain.host;
    busybox = await pushImage(h, 'busybox', 'latest', [{ 'bin/busybox': { copyFrom: '/bin/busybox' } }, { 'etc/motd': 'hello from berth\n', 'etc/hostname': 'berth\n' }]);
    multiHere = await pushImage(h, 'multi', undefined, [{ 'bin/busybox': { copyFrom: '/bin/busybox' } }, { 'etc/arch': arch }], { arch });
    multiOther = await pushImage(h, 'multi', undefined, [{ 'etc/arch': other }], { arch: other });
    await pushManifest(h, 'multi', 'latest', {
      schemaVersion: 2, mediaType: OCI_INDEX,
      manifests: [
        { mediaType: multiOther.manifest.mediaType, digest: multiOther.manifest.digest, size: multiOther.manifest.size, platform: { os: 'linux', architecture: other } },
        { mediaType: multiHere.manifest.mediaType, digest: multiHere.manifest.digest, size: multiHere.manifest.size, platform: { os: 'linux', architecture: arch } },
      ],
    }, OCI_INDEX);
    dockerImg = await pushImage(h, 'dockerish', undefined, [{ 'etc/docker': 'schema2\n' }], { docker: true, arch });
    await pushManifest(h, 'dockerish', 'latest', {
      schemaVersion: 2, mediaType: DOCKER_LIST,
      manifests: [{ mediaType: dockerImg.manifest.mediaType, digest: dockerImg.manifest.digest, size: dockerImg.manifest.size, platform: { os: 'linux', architecture: arch } }],
    }, DOCKER_LIST);
    tamperDigest = await pushImage(h, 'tampered', 'digest', [{ 'etc/unique': `digest ${Date.now()} ${Math.random()}` }]);
    tamperSize = await pushImage(h, 'tampered', 'size', [{ 'etc/unique': `size ${Date.now()} ${Math.random()}`.repeat(100) }]);
    pki = makePki();
  });

  afterAll(async () => {
    await stopAll();
    cleanupTempDirs();
  });

  test('pull over plain HTTP from a loopback registry without configuration', async () => {
    const client = new RegistryClient(fast);
    const store = ContentStore.open(tempDir());
    const progress: string[] = [];
    const rec = await pull(client, store, `${plain.host}/busybox`, { onProgress: (p) => p.done && progress.push(p.digest) });
    expect(rec.name).toBe(`${plain.host}/busybox:latest`);
    expect(rec.digest).toBe(busybox.manifest.digest);
    expect(rec.manifestDigest).toBe(busybox.manifest.digest);
    expect(rec.id).toBe(busybox.config.digest);
    expect(rec.layers.map((l) => l.digest)).toEqual(busybox.layers.map((l) => l.digest));
    expect(rec.size).toBe(busybox.manifest.size + busybox.config.size + busybox.layers.reduce((a, l) => a + l.size, 0));
    expect(progress.sort()).toEqual([busybox.config.digest, ...busybox.layers.map((l) => l.digest)].sort());
    for (const b of [busybox.manifest, busybox.config, ...busybox.layers]) expect(store.readBuffer(b.digest).equals(b.data)).toBe(true);
    expect(store.ingestFiles()).toEqual([]);
    // by digest, and by tag + digest (the digest wins)
    const byDigest = await pull(client, ContentStore.open(tempDir()), `${plain.host}/busybox:nope@${busybox.manifest.digest}`);
    expect(byDigest.name).toBe(`${plain.host}/busybox@${busybox.manifest.digest}`);
    client.close();
  });

  test('multi-arch OCI index and Docker manifest list select this node\'s platform', async () => {
    const client = new RegistryClient(fast);
    const rec = await pull(client, ContentStore.open(tempDir()), `${plain.host}/multi:latest`);
    expect(rec.manifestDigest).toBe(multiHere.manifest.digest);
    expect(rec.digest).not.toBe(multiHere.manifest.digest);
    const otherRec = await pull(client, ContentStore.open(tempDir()), `${plain.host}/multi:latest`, { platform: { os: 'linux', architecture: other } });
    expect(otherRec.id).toBe(multiOther.config.digest);
    const none = await berthErrorOf(pull(client, ContentStore.open(tempDir()), `${plain.host}/multi:latest`, { platform: { os: 'linux', architecture: 's390x' } }));
    expect(none.kind).toBe('NotFound');
    expect(none.message).toMatch(/no manifest for platform linux\/s390x \(available: linux\/.*\)/);
    const d = await pull(client, ContentStore.open(tempDir()), `${plain.host}/dockerish`);
    expect(d.manifestDigest).toBe(dockerImg.manifest.digest);
    expect(d.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    client.close();
  });

  test('not found', async () => {
    const client = new RegistryClient(fast);
    const err = await berthErrorOf(client.repository(parseReference(`${plain.host}/nosuch:tag`)).resolve());
    expect(err.kind).toBe('NotFound');
    expect(err.message).toMatch(/manifest .*nosuch:tag not found/);
    client.close();
  });

  test('wrong digest: a tampered blob is refused, nothing is stored', async () => {
    const layer = tamperDigest.layers[0];
    const file = registryBlobFile(storage, layer.digest);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const store = ContentStore.open(tempDir());
    const err = await berthErrorOf(pull(new RegistryClient(fast), store, `${plain.host}/tampered:digest`));
    expect(err.kind).toBe('InvalidArgument');
    expect(err.message).toMatch(new RegExp(`digest mismatch: expected ${layer.digest}`));
    expect(store.has(layer.digest)).toBe(false);
    expect(store.has(tamperDigest.manifest.digest)).toBe(false);
    expect(store.ingestFiles()).toEqual([]);
  });

  test('truncated blob: refused with a size mismatch', async () => {
    const layer = tamperSize.layers[0];
    const file = registryBlobFile(storage, layer.digest);
    fs.truncateSync(file, Math.floor(layer.size / 2));
    const store = ContentStore.open(tempDir());
    const err = await berthErrorOf(pull(new RegistryClient(fast), store, `${plain.host}/tampered:size`));
    expect(err.kind).toBe('InvalidArgument');
    expect(err.message).toMatch(/size mismatch \(truncated\)/);
    expect(store.has(layer.digest)).toBe(false);
    expect(store.ingestFiles()).toEqual([]);
  });

  test('oversized manifest is refused', async () => {
    // docker-registry 2.8 itself refuses to store a manifest this big, so the proxy serves one.
    const proxy = await startProxy(plain.port);
    const doc = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: busybox.config.digest, size: busybox.config.size }, layers: [], annotations: { pad: 'x'.repeat(5 << 20) } });
    proxy.rule = (req) => (req.url?.includes('/manifests/') ? { status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: doc } : undefined);
    const err = await berthErrorOf(new RegistryClient(fast).repository(parseReference(`${proxy.host}/big`)).resolve());
    expect(err.kind).toBe('ResourceExhausted');
    expect(err.message).toMatch(/over the limit of 4194304 bytes/);
    // (that answer was chunked: the limit holds while streaming); a configured limit, with Content-Length declared
    const small = await berthErrorOf(new RegistryClient({ ...fast, maxManifestBytes: 100 }).repository(parseReference(`${plain.host}/busybox`)).resolve());
    expect(small.message).toMatch(/\d+ bytes is over the limit of 100 bytes/);
    expect(small.kind).toBe('ResourceExhausted');
    await proxy.stop();
  });

  test('unknown manifest media type is refused clearly', async () => {
    const proxy = await startProxy(plain.port);
    proxy.rule = (req) => (req.url?.includes('/manifests/') ? { setHeaders: { 'content-type': 'application/vnd.example.thing+json' } } : undefined);
    const err = await berthErrorOf(new RegistryClient(fast).repository(parseReference(`${proxy.host}/busybox`)).resolve());
    expect(err.kind).toBe('InvalidArgument');
    expect(err.message).toMatch(/unsupported manifest media type "application\/vnd.example.thing\+json"/);
    await proxy.stop();
  });

  test('registry 500s and 429s, then success', async () => {
    const proxy = await startProxy(plain.port);
    let n = 0;
    proxy.rule = (req) => {
      if (req.url === '/v2/') return undefined;
      n++;
      if (n <= 2) return { status: 500, body: 'boom' };
      if (n === 3) return { status: 429, headers: { 'retry-after': '0' } };
      return undefined;
    };
    const rec = await pull(new RegistryClient(fast), ContentStore.open(tempDir()), `${proxy.host}/busybox`);
    expect(rec.id).toBe(busybox.config.digest);
    expect(proxy.log.filter((l) => l.fault?.includes('"status"')).length).toBe(3);
    // bounded: a registry that always fails gives up with a clear error
    proxy.rule = (req) => (req.url === '/v2/' ? undefined : { status: 503 });
    const err = await berthErrorOf(new RegistryClient({ ...fast, retries: 2 }).repository(parseReference(`${proxy.host}/busybox:other`)).resolve());
    expect(err.kind).toBe('Unavailable');
    expect(err.message).toMatch(/answered 503/);
    await proxy.stop();
  });

  test('a blob cut mid-stream is resumed with Range', async () => {
    const proxy = await startProxy(plain.port);
    const big = busybox.layers[0];
    let cut = 0;
    proxy.rule = (req) => (req.url?.endsWith(big.digest) && !req.headers.range && cut++ < 1 ? { cutAfter: Math.floor(big.size / 3) } : undefined);
    const store = ContentStore.open(tempDir());
    await pull(new RegistryClient(fast), store, `${proxy.host}/busybox`);
    expect(store.readBuffer(big.digest).equals(big.data)).toBe(true);
    const ranged = proxy.log.filter((l) => l.url.endsWith(big.digest) && l.range);
    expect(ranged.length).toBe(1);
    expect(ranged[0].range).toBe(`bytes=${Math.floor(big.size / 3)}-`);
    await proxy.stop();
  });

  test('blob redirects are followed', async () => {
    const proxy = await startProxy(plain.port);
    proxy.rule = (req) => (req.url?.includes('/blobs/') ? { status: 307, headers: { location: `http://${plain.host}${req.url}` } } : undefined);
    const store = ContentStore.open(tempDir());
    const rec = await pull(new RegistryClient(fast), store, `${proxy.host}/busybox`);
    expect(store.has(rec.layers[0].digest)).toBe(true);
    expect(proxy.log.some((l) => l.fault?.includes('307'))).toBe(true);
    await proxy.stop();
  });

  test('mirrors are tried in order, then the upstream', async () => {
    const dead = await startProxy(plain.port);
    dead.rule = () => ({ status: 404 });
    const good = await startProxy(plain.port);
    const client = new RegistryClient({ ...fast, registries: { 'registry.example.invalid': { mirrors: [`http://${dead.host}`, `http://${good.host}`] } } });
    const rec = await pull(client, ContentStore.open(tempDir()), 'registry.example.invalid/busybox');
    expect(rec.id).toBe(busybox.config.digest);
    expect(dead.log.some((l) => l.url.includes('/manifests/'))).toBe(true);
    expect(good.log.some((l) => l.url.includes('/blobs/'))).toBe(true);
    expect(dead.log.some((l) => l.url.includes('/blobs/'))).toBe(false);
    // mirror down (connection refused) → upstream
    const client2 = new RegistryClient({ ...fast, registries: { '*': { mirrors: ['http://127.0.0.1:1'] } } });
    expect((await pull(client2, ContentStore.open(tempDir()), `${plain.host}/busybox`)).id).toBe(busybox.config.digest);
    // all fail: the upstream's error, naming the mirrors
    const err = await berthErrorOf(client2.repository(parseReference(`${plain.host}/nosuch`)).resolve());
    expect(err.kind).toBe('NotFound');
    expect(err.message).toMatch(/also tried: 127\.0\.0\.1:1: .*connection refused/);
    await dead.stop();
    await good.stop();
  });

  test('plain HTTP to a non-loopback host needs insecure', () => {
    const client = new RegistryClient({ registries: { 'reg.example': { mirrors: ['http://mirror.example:5000'] } } });
    expect(() => client.repository(parseReference('reg.example/app'))).toThrow(/uses plain HTTP but mirror.example:5000 is not configured insecure/);
  });

  describe('TLS', () => {
    let tlsReg: RegistryProcess;
    beforeAll(async () => {
      tlsReg = await startRegistry({ storage, tls: { cert: pki.cert, key: pki.key } });
    });

    test('verified against the configured CA', async () => {
      const client = new RegistryClient({ ...fast, registries: { [tlsReg.host]: { ca: pki.ca } } });
      expect((await pull(client, ContentStore.open(tempDir()), `${tlsReg.host}/busybox`)).id).toBe(busybox.config.digest);
    });

    test('without the CA: a clear TLS error (no silent fallback to HTTP)', async () => {
      const err = await berthErrorOf(new RegistryClient(fast).repository(parseReference(`${tlsReg.host}/busybox`)).resolve());
      expect(err.kind).toBe('Unavailable');
      expect(err.message).toMatch(/TLS certificate verification failed for https:\/\/127\.0\.0\.1:\d+: .*set registries."127\.0\.0\.1:\d+"\.ca/);
    });

    test('insecure: true skips verification', async () => {
      const client = new RegistryClient({ ...fast, registries: { [tlsReg.host]: { insecure: true } } });
      expect((await pull(client, ContentStore.open(tempDir()), `${tlsReg.host}/busybox`)).id).toBe(busybox.config.digest);
    });

    test('client certificates', async () => {
      const mtls = await startRegistry({ storage, tls: { cert: pki.cert, key: pki.key, clientCA: pki.ca } });
      const without = await berthErrorOf(new RegistryClient({ ...fast, registries: { [mtls.host]: { ca: pki.ca } } }).repository(parseReference(`${mtls.host}/busybox`)).resolve());
      expect(without.kind).toBe('Unavailable');
      expect(without.message).toMatch(/TLS handshake with https:\/\/127\.0\.0\.1:\d+ failed: .*set registries."127\.0\.0\.1:\d+"\.cert and \.key/);
      const client = new RegistryClient({ ...fast, registries: { [mtls.host]: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } } });
      expect((await pull(client, ContentStore.open(tempDir()), `${mtls.host}/busybox`)).id).toBe(busybox.config.digest);
      await mtls.stop();
    });
  });

  describe('basic auth (htpasswd)', () => {
    let reg: RegistryProcess;
    beforeAll(async () => {
      reg = await startRegistry({ storage, htpasswd: makeHtpasswd({ alice: 's3cret' }) });
    });

    test('with credentials', async () => {
      const client = new RegistryClient({ ...fast, registries: { [reg.host]: { auth: { username: 'alice', password: 's3cret' } } } });
      expect((await pull(client, ContentStore.open(tempDir()), `${reg.host}/busybox`)).id).toBe(busybox.config.digest);
      const client2 = new RegistryClient(fast);
      const auth = { auth: Buffer.from('alice:s3cret').toString('base64') };
      expect((await pull(client2, ContentStore.open(tempDir()), `${reg.host}/busybox`, { auth })).id).toBe(busybox.config.digest);
    });

    test('without credentials: Unauthenticated', async () => {
      const err = await berthErrorOf(new RegistryClient(fast).repository(parseReference(`${reg.host}/busybox`)).resolve());
      expect(err.kind).toBe('Unauthenticated');
      expect(err.message).toMatch(/requires authentication: no credentials configured/);
    });

    test('wrong password: Unauthenticated', async () => {
      const client = new RegistryClient({ ...fast, registries: { [reg.host]: { auth: { username: 'alice', password: 'wrong' } } } });
      const err = await berthErrorOf(client.repository(parseReference(`${reg.host}/busybox`)).resolve());
      expect(err.kind).toBe('Unauthenticated');
      expect(err.message).toMatch(/rejected the credentials for user "alice"/);
    });
  });

  describe('bearer token auth (registry auth: token + in-test token server)', () => {
    let reg: RegistryProcess;
    let tokens: Awaited<ReturnType<typeof startTokenServer>>;
    beforeAll(async () => {
      tokens = await startTokenServer({ bob: { password: 'pw', actions: ['pull'] }, eve: { password: 'pw', actions: [] } });
      reg = await startRegistry({ storage, token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, bundle: tokens.bundle } });
    });

    test('token fetched with the scope and cached', async () => {
      const client = new RegistryClient({ ...fast, registries: { [reg.host]: { auth: { username: 'bob', password: 'pw' } } } });
      expect((await pull(client, ContentStore.open(tempDir()), `${reg.host}/busybox`)).id).toBe(busybox.config.digest);
      expect(tokens.requests.length).toBe(1);
      expect(tokens.requests[0]).toContain(`scope=${encodeURIComponent('repository:busybox:pull')}`);
      expect(tokens.requests[0]).toContain(`service=${tokens.service}`);
      await pull(client, ContentStore.open(tempDir()), `${reg.host}/busybox`);
      expect(tokens.requests.length).toBe(1);
      await pull(client, ContentStore.open(tempDir()), `${reg.host}/multi`);
      expect(tokens.requests.length).toBe(2);
    });

    test('anonymous: Unauthenticated', async () => {
      const err = await berthErrorOf(new RegistryClient(fast).repository(parseReference(`${reg.host}/busybox`)).resolve());
      expect(err.kind).toBe('Unauthenticated');
    });

    test('wrong password at the token server: Unauthenticated', async () => {
      const err = await berthErrorOf(new RegistryClient(fast).repository(parseReference(`${reg.host}/busybox`), { auth: { username: 'bob', password: 'nope' } }).resolve());
      expect(err.kind).toBe('Unauthenticated');
      expect(err.message).toMatch(/rejected the credentials .*user "bob"/);
    });

    test('token without pull access: PermissionDenied', async () => {
      const err = await berthErrorOf(new RegistryClient(fast).repository(parseReference(`${reg.host}/busybox`), { auth: { username: 'eve', password: 'pw' } }).resolve());
      expect(err.kind).toBe('PermissionDenied');
      expect(err.message).toMatch(/user "eve" may not pull busybox/);
    });
  });

  test('WWW-Authenticate parsing', () => {
    expect(parseChallenges('Bearer realm="https://auth.example/token",service="reg, x",scope="repository:a/b:pull,push", Basic realm="r"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg, x', scope: 'repository:a/b:pull,push' } },
      { scheme: 'basic', params: { realm: 'r' } },
    ]);
  });
});
