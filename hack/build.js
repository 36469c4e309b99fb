#!/usr/bin/env node
// Builds every binary into build/bin: the TypeScript CLIs bundled into one file each (fast start: nothing to
// resolve at load time), and the C helpers compiled with the system cc.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'build', 'bin');
const pkg = require(path.join(root, 'package.json'));

/** TypeScript entry points: binary name → source. */
const entries = {
  'berth-run': 'src/bin/berth-run.ts',
};

/** C programs: binary name → sources. */
const natives = {
  'berth-init': ['src/native/berth-init.c', 'src/native/plan.c', 'src/native/util.c', 'src/native/rootfs.c', 'src/native/creds.c', 'src/native/hooks.c'],
};

async function main() {
  fs.mkdirSync(out, { recursive: true });
  const cc = process.env.CC || 'cc';
  for (const [name, sources] of Object.entries(natives)) {
    const target = path.join(out, name);
    execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-o', target + '.tmp', ...sources.map((s) => path.join(root, s))], { stdio: 'inherit' });
    fs.renameSync(target + '.tmp', target);
  }
  for (const [name, entry] of Object.entries(entries)) {
    const target = path.join(out, name);
    await esbuild.build({
      entryPoints: [path.join(root, entry)],
      outfile: target,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      minify: false,
      sourcemap: false,
      legalComments: 'none',
      banner: { js: '#!/usr/bin/env node' },
      define: { __BERTH_VERSION__: JSON.stringify(pkg.version) },
      logLevel: 'warning',
    });
    fs.chmodSync(target, 0o755);
  }
}

main().catch((err) => {
  console.error(err.message || err);
  process.exit(1);
});
