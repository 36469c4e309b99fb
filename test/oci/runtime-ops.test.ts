/**
 * Operation semantics found through runtime-tools' validation programs (test/oci/runtime-tools.test.ts):
 * what runtime.md requires of the hook phases whose failure is not fatal, and of poststart from 1.1.0 on.
 * runc 1.1.5 is not the reference for these: it runs poststart hooks at create and stops at the first
 * failing poststop hook, so the expectations come from runtime.md itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Hook } from '../../src/oci/spec/types';
import { RuntimeCli, cleanupTempDirs, eventually, makeBundle, processGone, requireTools, tempDir, uniqueId } from '../helpers/oci';

const cli = new RuntimeCli('berth-run');
beforeAll(() => requireTools());
afterEach(() => cli.cleanup());
afterAll(() => cleanupTempDirs());

const failing: Hook = { path: '/bin/false', args: ['false'] };
/** A hook that appends `word` to `file`. */
const marker = (file: string, word: string): Hook => ({ path: '/bin/sh', args: ['sh', '-c', `echo ${word} >> ${file}`] });

test('poststop: a failing hook is a warning, the hooks after it still run, and delete succeeds', () => {
  // runtime.md lifecycle step 13 (every spec version).
  const log = path.join(tempDir(), 'log');
  const id = uniqueId('poststop');
  cli.ok(['run', '--bundle', makeBundle((s) => {
    s.process!.args = ['true'];
    s.hooks = { poststop: [failing, marker(log, 'second')] };
  }, { ociVersion: '1.3.0' }), id]);
  // `run` in the foreground deleted the container on exit, running the poststop hooks.
  expect(fs.readFileSync(log, 'utf8')).toBe('second\n');

  const id2 = uniqueId('poststop');
  const log2 = path.join(tempDir(), 'log');
  cli.ok(['create', '--bundle', makeBundle((s) => {
    s.process!.args = ['true'];
    s.hooks = { poststop: [failing, marker(log2, 'after-failure')] };
  }, { ociVersion: '1.0.2' }), id2]);
  cli.ok(['start', id2]);
  return eventually(() => cli.state(id2).status === 'stopped', 5000, 'exit').then(() => {
    const r = cli.ok(['delete', id2]);
    expect(r.stderr).toMatch(/poststop hook failed/);
    expect(fs.readFileSync(log2, 'utf8')).toBe('after-failure\n');
    expect(cli.run(['state', id2]).status).not.toBe(0);
  });
});

test('poststart, ociVersion 1.0.x: a failing hook is a warning and the hooks after it still run', () => {
  const log = path.join(tempDir(), 'log');
  const id = uniqueId('poststart10');
  cli.ok(['create', '--bundle', makeBundle((s) => {
    s.process!.args = ['sleep', '30'];
    s.hooks = { poststart: [failing, marker(log, 'second')] };
  }, { ociVersion: '1.0.2' }), id]);
  const r = cli.ok(['start', id]);
  expect(r.stderr).toMatch(/poststart hook failed/);
  expect(fs.readFileSync(log, 'utf8')).toBe('second\n');
  expect(cli.state(id).status).toBe('running');
});

test('poststart, ociVersion 1.1.0 on: a failing hook fails start and stops the container', async () => {
  // runtime.md 1.1+: "generate an error, stop the container, and continue the lifecycle at step 12".
  const log = path.join(tempDir(), 'log');
  const id = uniqueId('poststart13');
  cli.ok(['create', '--bundle', makeBundle((s) => {
    s.process!.args = ['sleep', '30'];
    s.hooks = { poststart: [failing, marker(log, 'second')] };
  }, { ociVersion: '1.3.0' }), id]);
  const pid = cli.state(id).pid;
  const r = cli.run(['start', id]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/hooks\.poststart\[0\].*status 1/);
  // The first failure ends the phase.
  expect(fs.existsSync(log)).toBe(false);
  await eventually(() => processGone(pid), 5000, 'the container process to be killed');
  expect(cli.state(id).status).toBe('stopped');
  cli.ok(['delete', id]);
});

test('poststart, ociVersion 1.1.0 on: `run -d` with a failing hook fails and leaves no container', () => {
  const id = uniqueId('poststartrun');
  const r = cli.run(['run', '-d', '--bundle', makeBundle((s) => {
    s.process!.args = ['sleep', '30'];
    s.hooks = { poststart: [failing] };
  }, { ociVersion: '1.1.0' }), id]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/hooks\.poststart\[0\]/);
  expect(cli.run(['state', id]).status).not.toBe(0);
});
