/**
 * What hack/build.js promises about build/: every bundle is ASCII (V8 keeps a script's source resident, two
 * bytes per character as soon as one character is not Latin-1), and each launcher's V8 code cache is accepted
 * under the node flags that launcher runs with (V8 silently rejects a cache made under other flags, and the
 * binary then compiles everything at every start).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'build', 'bin');
const LIB = path.join(REPO, 'build', 'lib');
const bundles = fs.readdirSync(LIB).filter((f) => f.endsWith('.js'));

/** The node flags in a launcher's `#!/usr/bin/env [-S [VAR=value …] node flags…]` line. */
function launcherFlags(name: string): string[] {
  const first = fs.readFileSync(path.join(BIN, name), 'utf8').split('\n')[0];
  const words = first.replace(/^#!\/usr\/bin\/env\s+(-S\s+)?/, '').split(/\s+/).filter(Boolean);
  const node = words.indexOf('node');
  if (node < 0) throw new Error(`${name}: the launcher does not run node: ${first}`);
  return words.slice(node + 1);
}

test('build/lib holds the bundles of the TypeScript binaries', () => {
  expect(bundles).toEqual(expect.arrayContaining(['berthd.js', 'berth-shim.js', 'berth-run.js', 'berthctl.js']));
});

test.each(bundles)('%s is pure ASCII', (bundle) => {
  const text = fs.readFileSync(path.join(LIB, bundle), 'latin1');
  const at = text.search(/[^\x00-\x7f]/);
  expect(at < 0 ? 'ascii' : `byte ${at}: ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 10))}`).toBe('ascii');
});

test.each(bundles.map((b) => b.replace(/\.js$/, '')))('the code cache of %s is accepted under its launcher\'s flags', (name) => {
  const flags = launcherFlags(name);
  const probe = `
    const fs = require('node:fs'), vm = require('node:vm');
    const file = ${JSON.stringify(path.join(LIB, `${name}.js`))};
    const script = new vm.Script(require('node:module').wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData: fs.readFileSync(file + '.cache') });
    process.stdout.write(script.cachedDataRejected ? 'rejected' : 'accepted');
  `;
  const r = spawnSync(process.execPath, [...flags, '-e', probe], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe('accepted');
});

test('the daemons run with the memory flags; the short-lived CLIs with none', () => {
  for (const daemon of ['berthd', 'berth-shim']) expect(launcherFlags(daemon)).toEqual(expect.arrayContaining(['--max-semi-space-size=1', '--no-opt']));
  for (const cli of ['berth-run', 'berthctl', 'berth-bridge']) expect(launcherFlags(cli)).toEqual([]);
});
