/**
 * Runtime handlers from the drop-in directory (one <handler>.yaml each), picked up by a running berthd without a
 * restart: when the directory changes, and on SIGHUP; a bad file is reported and changes nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { tempDir } from '../image/helpers';
import { berthdSync, criClient, requireBuilt, startBerthd, stopBerthds, waitFor, type Berthd, type CriClient } from './helpers';

const RUNC = '/usr/sbin/runc';

interface StatusResponse { runtimeHandlers: Array<{ name: string }> }

let berthd: Berthd | undefined;
let cri: CriClient | undefined;

afterEach(async () => {
  cri?.close();
  cri = undefined;
  await berthd?.stop();
  berthd = undefined;
  await stopBerthds();
});

/** Written as the agent writes it: a temp file, then a rename. */
function writeDropIn(dir: string, handler: string, doc: unknown): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `.${handler}.yaml.tmp`), stringify(doc));
  fs.renameSync(path.join(dir, `.${handler}.yaml.tmp`), path.join(dir, `${handler}.yaml`));
}

async function handlers(): Promise<string[]> {
  const res = await cri!.runtime<StatusResponse>('Status', {});
  return res.runtimeHandlers.map((h) => h.name);
}

/** Bounded: polls CRI Status until `want` holds. */
async function untilHandlers(want: (names: string[]) => boolean, what: string): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const names = await handlers();
    if (want(names)) return names;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; berthd serves ${names.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(() => {
  requireBuilt();
  if (!fs.existsSync(RUNC)) throw new Error(`${RUNC} is missing (hack/deps installs runc)`);
});

test('handlers come and go with their files in the drop-in directory, without a restart', async () => {
  const dir = tempDir('berth-rtdir-');
  const dropIns = path.join(dir, 'runtimes.d');
  writeDropIn(dropIns, 'alpha', { path: RUNC });
  berthd = await startBerthd({ config: { runtimesDir: dropIns } });
  cri = criClient(berthd.endpoint);
  expect(await handlers()).toContain('alpha');
  const pid = berthd.pid;

  writeDropIn(dropIns, 'beta', { path: RUNC, root: path.join(dir, 'beta-root') });
  expect(await untilHandlers((n) => n.includes('beta'), 'beta to appear')).toContain('alpha');
  fs.rmSync(path.join(dropIns, 'alpha.yaml'));
  expect(await untilHandlers((n) => !n.includes('alpha'), 'alpha to go')).toContain('beta');

  // A pod may use the new handler at once.
  const sandbox = await cri.runtimeError('RunPodSandbox', { config: { metadata: { name: 'p', namespace: 'n', uid: 'u' } }, runtimeHandler: 'gamma' });
  expect(sandbox.details).toContain('unknown runtime handler "gamma"');

  // A bad file: reported with the file and the field, and the handlers stay as they were.
  writeDropIn(dropIns, 'gamma', { path: 'bin/runc' });
  await waitFor('the reload error in the log', () => berthd!.logs().includes('runtime handlers not reloaded'));
  const line = berthd.logs().split('\n').find((l) => l.includes('runtime handlers not reloaded'))!;
  expect(JSON.parse(line).error).toMatch(/gamma\.yaml: path: must be an absolute path/);
  expect(await handlers()).toEqual(expect.arrayContaining(['berth', 'beta']));
  expect(await handlers()).not.toContain('gamma');

  writeDropIn(dropIns, 'gamma', { path: RUNC });
  await untilHandlers((n) => n.includes('gamma'), 'gamma once fixed');
  expect(berthd.pid).toBe(pid);
  expect(berthd.child.exitCode).toBeNull();
});

test('SIGHUP reloads a drop-in directory that did not exist when berthd started', async () => {
  const dir = tempDir('berth-rtdir-');
  // Neither the directory nor its parent exists: nothing to watch, so only the signal can tell berthd.
  const dropIns = path.join(dir, 'etc', 'runtimes.d');
  berthd = await startBerthd({ config: { runtimesDir: dropIns } });
  cri = criClient(berthd.endpoint);
  writeDropIn(dropIns, 'late', { path: RUNC });
  await new Promise((r) => setTimeout(r, 500));
  expect(await handlers()).not.toContain('late');
  process.kill(berthd.pid, 'SIGHUP');
  await untilHandlers((n) => n.includes('late'), 'the handler after SIGHUP');
  // From then on the directory is watched.
  writeDropIn(dropIns, 'later', { path: RUNC });
  await untilHandlers((n) => n.includes('later'), 'the next handler without a signal');
});

test('a handler defined both in the config file and as a drop-in is refused at start, naming both', () => {
  const dir = tempDir('berth-rtdir-');
  const dropIns = path.join(dir, 'runtimes.d');
  writeDropIn(dropIns, 'twice', { path: RUNC });
  const config = path.join(dir, 'config.yaml');
  fs.writeFileSync(config, stringify({ runtimesDir: dropIns, runtimes: { twice: { path: RUNC } } }));
  const r = berthdSync(['--config', config, '--check-config']);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain('runtimes.twice: is also defined by');
  expect(r.stderr).toContain(path.join(dropIns, 'twice.yaml'));
});

test('--check-config shows the drop-in handlers; the default directory is runtimes.d beside the config', () => {
  const dir = tempDir('berth-rtdir-');
  writeDropIn(path.join(dir, 'runtimes.d'), 'side', { path: RUNC });
  const config = path.join(dir, 'config.yaml');
  fs.writeFileSync(config, stringify({ logLevel: 'warn' }));
  const r = berthdSync(['--config', config, '--check-config']);
  expect(r.stderr).toBe('');
  const shown = JSON.parse(r.stdout) as { runtimesDir: string; runtimes: Record<string, { path: string }> };
  expect(shown.runtimesDir).toBe(path.join(dir, 'runtimes.d'));
  expect(shown.runtimes.side).toEqual({ path: RUNC });
});
