/** berthd's config (defaults, validation with key paths) and berthctl's crictl-shaped formatting. */
import { BerthError } from '../../src/common/errors';
import { keyPath, parseConfigText, parseListen, validateConfig } from '../../src/cri/config';
import { authFromCri } from '../../src/cri/image-service';
import { goFormatG, humanSize, table, truncatedId } from '../../src/cri/ctl/format';
import { parseDuration } from '../../src/cri/ctl/pull';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof BerthError) return err.field ?? err.message;
    throw err;
  }
  return undefined;
}

describe('config', () => {
  test('every key has a default; the socket follows --state', () => {
    expect(validateConfig(undefined)).toEqual({
      root: '/var/lib/berth', state: '/run/berth', listen: '/run/berth/berthd.sock', logLevel: 'info', maxConcurrentDownloads: 3,
      registries: {}, cni: { confDir: '/etc/cni/net.d', binDirs: ['/opt/cni/bin', '/usr/lib/cni'] }, runtimes: {}, runtimesDir: '/etc/berth/runtimes.d', streaming: { address: '127.0.0.1:0' },
      cgroupDriver: 'cgroupfs', sandbox: { pauseImage: '' }, metricsAddress: '127.0.0.1:0',
    });
    expect(validateConfig({}, {}, '/srv/berth/berthd.yaml').runtimesDir).toBe('/srv/berth/runtimes.d');
    expect(fieldOf(() => validateConfig({ runtimesDir: 'runtimes.d' }))).toBe('runtimesDir');
    expect(validateConfig({}, { state: '/tmp/s' }).listen).toBe('/tmp/s/berthd.sock');
    expect(validateConfig({ listen: 'unix:///x/y.sock', state: '/s' }, { listen: '/z.sock' }).listen).toBe('/z.sock');
  });

  test('errors name the key path, quoting keys that are not identifiers', () => {
    expect(fieldOf(() => validateConfig({ registries: { 'registry.k8s.io': { mirrors: ['ftp://x'] } } }))).toBe('registries."registry.k8s.io".mirrors[0]');
    expect(fieldOf(() => validateConfig({ registries: { '*': { insecure: 'yes' } } }))).toBe('registries."*".insecure');
    expect(fieldOf(() => validateConfig({ registries: { r: { bogus: 1 } } }))).toBe('registries.r.bogus');
    expect(fieldOf(() => validateConfig({ cni: { binDirs: ['/a', 'b'] } }))).toBe('cni.binDirs[1]');
    expect(fieldOf(() => validateConfig({ cni: { confdir: '/a' } }))).toBe('cni.confdir');
    expect(fieldOf(() => validateConfig({ runtimes: { RUNC: { path: '/x' } } }))).toBe('runtimes.RUNC');
    expect(fieldOf(() => validateConfig({ runtimes: { runc: {} } }))).toBe('runtimes.runc.path');
    expect(fieldOf(() => validateConfig({ streaming: { address: 'localhost:99999' } }))).toBe('streaming.address');
    expect(fieldOf(() => validateConfig({ metricsAddress: '0.0.0.0:9100' }))).toBe('metricsAddress');
    expect(validateConfig({ metricsAddress: 'off' }).metricsAddress).toBe('');
    expect(fieldOf(() => validateConfig({ maxConcurrentDownloads: 2.5 }))).toBe('maxConcurrentDownloads');
    expect(fieldOf(() => validateConfig({ logLevel: 'loud' }))).toBe('logLevel');
    expect(fieldOf(() => validateConfig({ cgroupDriver: 'cgroupv3' }))).toBe('cgroupDriver');
    expect(validateConfig({ cgroupDriver: 'systemd' }).cgroupDriver).toBe('systemd');
    expect(fieldOf(() => validateConfig({ sandbox: { pauseImage: 'a b' } }))).toBe('sandbox.pauseImage');
    expect(fieldOf(() => validateConfig({ sandbox: { image: 'pause' } }))).toBe('sandbox.image');
    expect(validateConfig({ sandbox: { pauseImage: 'registry.k8s.io/pause:3.10' } }).sandbox.pauseImage).toBe('registry.k8s.io/pause:3.10');
    expect(fieldOf(() => validateConfig({ root: 'var/lib' }))).toBe('root');
    expect(fieldOf(() => validateConfig({}, { logLevel: 'loud' }))).toBe('--log-level');
    expect(keyPath('a', 'b-c')).toBe('a.b-c');
    expect(keyPath('a', '127.0.0.1:5000')).toBe('a."127.0.0.1:5000"');
  });

  test('listen: unix sockets only, within sun_path', () => {
    expect(parseListen('unix:///run/x.sock', 'listen')).toBe('/run/x.sock');
    expect(fieldOf(() => parseListen('tcp://127.0.0.1:1', 'listen'))).toBe('listen');
    expect(fieldOf(() => parseListen(`/${'x'.repeat(120)}`, 'listen'))).toBe('listen');
  });

  test('YAML: syntax errors and duplicate keys name the line', () => {
    expect(() => parseConfigText('a: 1\na: 2\n', 'c.yaml')).toThrow(/^c\.yaml:2:1: /);
    expect(parseConfigText('registries:\n  "*": {insecure: true}\n', 'c.yaml')).toEqual({ registries: { '*': { insecure: true } } });
  });
});

describe('CRI AuthConfig', () => {
  const none = { username: '', password: '', auth: '', serverAddress: '', identityToken: '', registryToken: '' };
  test('maps each form; tokens first', () => {
    expect(authFromCri(null)).toBeUndefined();
    expect(authFromCri(none)).toBeUndefined();
    expect(authFromCri({ ...none, username: 'u', password: 'p' })).toEqual({ username: 'u', password: 'p' });
    const auth = Buffer.from('u:p').toString('base64');
    expect(authFromCri({ ...none, auth })).toEqual({ auth });
    expect(authFromCri({ ...none, identityToken: 'i', username: 'u' })).toEqual({ identityToken: 'i' });
    expect(authFromCri({ ...none, registryToken: 'r', identityToken: 'i' })).toEqual({ registryToken: 'r' });
    expect(fieldOf(() => authFromCri({ ...none, password: 'p' }))).toBe('auth.username');
    expect(fieldOf(() => authFromCri({ ...none, auth: Buffer.from('nocolon').toString('base64') }))).toBe('auth.auth');
  });
});

describe('berthctl formatting', () => {
  test('sizes as crictl prints them (go-units, 3 significant digits, decimal units)', () => {
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(999)).toBe('999B');
    expect(humanSize(1000)).toBe('1kB');
    expect(humanSize(4261550)).toBe('4.26MB');
    expect(humanSize(1_234_567_890)).toBe('1.23GB');
    expect(humanSize(999_999)).toBe('1e+03kB');
    expect(goFormatG(0.00001234, 3)).toBe('1.23e-05');
    expect(goFormatG(12.5, 3)).toBe('12.5');
  });

  test('tables padded like Go tabwriter (minwidth 20, padding 3), last column unpadded', () => {
    const out = table([['IMAGE', 'TAG', 'SIZE'], ['a-very-long-repository-name', 'latest', '1MB']]);
    expect(out).toBe(`IMAGE${' '.repeat(25)}TAG${' '.repeat(17)}SIZE\na-very-long-repository-name   latest${' '.repeat(14)}1MB\n`);
    expect(truncatedId('sha256:0123456789abcdef')).toBe('0123456789abc');
  });

  test('durations', () => {
    expect(parseDuration('1m30s', 'x')).toBe(90000);
    expect(parseDuration('250ms', 'x')).toBe(250);
    expect(fieldOf(() => parseDuration('10', '--timeout'))).toBe('--timeout');
  });
});
