/**
 * The canary container, for real, through each runtime a RuntimeHandler may name: runc and crun (Debian's),
 * berth-run (this build); and what a broken runtime looks like. Nothing is left behind either way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCanary } from '../../src/agent/node/canary';
import { hostExec } from '../../src/agent/node/host-exec';
import { runtimeBinary } from '../../src/agent/node/runtime-binary';
import { tempDir } from '../image/helpers';

const REPO = path.resolve(__dirname, '..', '..');
const CANARY = path.join(REPO, 'build', 'bin', 'berth-canary');
const now = () => new Date();

beforeAll(() => {
  for (const f of [CANARY, path.join(REPO, 'build', 'bin', 'berth-run'), '/usr/sbin/runc', '/usr/bin/crun']) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing (npm run build; hack/deps installs runc and crun)`);
  }
});

/** A host root whose only content is what the canary makes; host paths are under it (as in --service-manager direct). */
function host() {
  const root = tempDir('berth-canary-host-');
  return hostExec(root, 'same-namespace');
}

const HYBRID = fs.existsSync('/sys/fs/cgroup/unified/cgroup.controllers');

/**
 * Debian's crun refuses a hybrid host whose cgroup2 mount holds a controller (this machine's layout): there it
 * runs behind a wrapper that hides that mount's controllers in a private mount namespace, as the OCI suites do.
 */
function crunFor(root: string): string {
  if (!HYBRID) return '/usr/bin/crun';
  const wrapper = path.join(root, 'crun-on-hybrid');
  fs.writeFileSync(wrapper, '#!/bin/sh\nexec unshare -m --propagation private sh -c \'mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers && exec /usr/bin/crun "$@"\' crun "$@"\n', { mode: 0o755 });
  return wrapper;
}

test.each([['runc', '/usr/sbin/runc'], ['crun', 'crun'], ['berth-run', path.join(REPO, 'build', 'bin', 'berth-run')]])('a canary container runs through %s', async (name, given) => {
  const h = host();
  const binary = name === 'crun' ? crunFor(h.hostRoot) : given;
  const result = await runCanary({ binary, canaryProgram: CANARY, workDir: '/run/berth-agent', host: h, timeoutSeconds: 30, now });
  expect(result.message).toMatch(/^canary container ran through /);
  expect(result.passed).toBe(true);
  expect(fs.readdirSync(h.inAgent('/run/berth-agent'))).toEqual([]);
});

(HYBRID ? test : test.skip)('on this hybrid cgroup host, plain crun fails the canary and says why', async () => {
  const h = host();
  const result = await runCanary({ binary: '/usr/bin/crun', canaryProgram: CANARY, workDir: '/run/berth-agent', host: h, timeoutSeconds: 30, now });
  expect(result).toMatchObject({ passed: false, message: expect.stringContaining('hybrid mode not supported') });
  expect(fs.readdirSync(h.inAgent('/run/berth-agent'))).toEqual([]);
});

test('a runtime that cannot run containers fails the canary with its own words, and leaves nothing', async () => {
  const h = host();
  const broken = path.join(h.hostRoot, 'broken-runtime');
  fs.writeFileSync(broken, '#!/bin/sh\necho "no such feature: $*" >&2\nexit 3\n', { mode: 0o755 });
  const result = await runCanary({ binary: broken, canaryProgram: CANARY, workDir: '/run/berth-agent', host: h, timeoutSeconds: 30, now });
  expect(result.passed).toBe(false);
  expect(result.message).toMatch(/broken-runtime run exited 3: no such feature: --root/);
  expect(fs.readdirSync(h.inAgent('/run/berth-agent'))).toEqual([]);
});

test('a runtime that hangs is stopped at the timeout', async () => {
  const h = host();
  const hung = path.join(h.hostRoot, 'hung-runtime');
  fs.writeFileSync(hung, '#!/bin/sh\ncase "$*" in *delete*) exit 0;; esac\nexec sleep 60\n', { mode: 0o755 });
  const result = await runCanary({ binary: hung, canaryProgram: CANARY, workDir: '/run/berth-agent', host: h, timeoutSeconds: 1, now });
  expect(result).toMatchObject({ passed: false, message: 'the canary container did not finish within 1 s' });
});

describe('the binary behind a RuntimeHandler', () => {
  test('runc and crun are found on the node; berth-run comes from the stack; a path must be an executable', () => {
    const h = host();
    fs.mkdirSync(h.inAgent('/usr/sbin'), { recursive: true });
    fs.copyFileSync('/usr/sbin/runc', h.inAgent('/usr/sbin/runc'));
    fs.chmodSync(h.inAgent('/usr/sbin/runc'), 0o755);
    fs.mkdirSync(h.inAgent('/opt/berth/current/bin'), { recursive: true });
    fs.writeFileSync(h.inAgent('/opt/berth/current/bin/berth-run'), '#!/bin/sh\n', { mode: 0o755 });
    expect(runtimeBinary({ type: 'runc' }, h, '/opt/berth/current/bin')).toBe('/usr/sbin/runc');
    expect(runtimeBinary({ type: 'berth' }, h, '/opt/berth/current/bin')).toBe('/opt/berth/current/bin/berth-run');
    expect(runtimeBinary({ type: 'binary', path: '/usr/sbin/runc' }, h, '/opt/berth/current/bin')).toBe('/usr/sbin/runc');
    expect(() => runtimeBinary({ type: 'crun' }, h, '/opt/berth/current/bin')).toThrow(/spec.runtime.type: crun is not installed on this node/);
    expect(() => runtimeBinary({ type: 'binary', path: '/opt/kata/bin/kata-runtime' }, h, '/x')).toThrow(/spec.runtime.path: \/opt\/kata\/bin\/kata-runtime is not an executable on this node/);
  });
});
