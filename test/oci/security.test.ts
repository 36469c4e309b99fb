/**
 * CVE-2019-5736 class: a container must not be able to reach the host's berth-init binary through
 * /proc/<pid>/exe. berth-init always runs from a sealed memfd copy, and while it sets a container up it is
 * not dumpable, so processes in the container cannot open its /proc entries at all.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO, RuntimeCli, cleanupTempDirs, makeBundle, requireTools, uniqueId } from '../helpers/oci';

const cli = new RuntimeCli('berth-run');
const INIT = path.join(REPO, 'build', 'bin', 'berth-init');
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

beforeAll(() => requireTools());
afterEach(() => cli.cleanup());
afterAll(() => cleanupTempDirs());

test('the container process before start is a sealed memfd copy, not the host binary', () => {
  const before = sha(INIT);
  const id = uniqueId('sealed');
  cli.ok(['create', '--bundle', makeBundle((s) => { s.process!.args = ['true']; }), id]);
  const pid = cli.state(id).pid;
  expect(fs.readlinkSync(`/proc/${pid}/exe`)).toMatch(/^\/memfd:berth-init/);
  // Even host root cannot write through the link: the copy is being executed and sealed against writes.
  let error: NodeJS.ErrnoException | undefined;
  try {
    const fd = fs.openSync(`/proc/${pid}/exe`, 'r+');
    try {
      fs.writeSync(fd, 'overwritten');
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    error = err as NodeJS.ErrnoException;
  }
  expect(error?.code).toMatch(/^(ETXTBSY|EPERM)$/);
  expect(sha(INIT)).toBe(before);
});

test('processes in the container cannot open the set-up process through /proc', () => {
  const before = sha(INIT);
  const id = uniqueId('cve');
  // Root in the container, with the default capabilities; pid 1 is berth-init waiting for start.
  cli.ok(['create', '--bundle', makeBundle((s) => { s.process!.args = ['true']; s.root!.readonly = false; }), id]);
  const r = cli.run(['exec', id, 'sh', '-c', [
    'readlink /proc/1/exe && echo LINK-READABLE',
    'cat /proc/1/exe > /tmp/copy && echo EXE-READABLE',
    '(echo overwritten >> /proc/1/exe) && echo EXE-WRITABLE',
    'readlink /proc/1/fd/0 && echo FD-LINK-READABLE',
    'echo done',
  ].join('; ')]);
  expect(r.stdout).toBe('done\n');
  expect(r.stderr).toMatch(/Permission denied/);
  expect(sha(INIT)).toBe(before);
});

test('an image whose program links to /proc/self/exe gets the sealed copy, and the host binary is unchanged', () => {
  const before = sha(INIT);
  const id = uniqueId('selfexe');
  // /proc/self/exe of the exec'ing process is the memfd: running it starts berth-init without a plan.
  const r = cli.run(['run', '--bundle', makeBundle((s) => { s.process!.args = ['/proc/self/exe']; }), id]);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/^berth-init: /m);
  expect(sha(INIT)).toBe(before);
});
