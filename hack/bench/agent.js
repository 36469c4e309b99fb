// `npm run bench -- agent`: berth-agent at scale against a real API server (hack/bench/agent.d/main.ts says what
// is measured). The TypeScript there is bundled with esbuild (the agent's API client is ESM-only
// @kubernetes/client-node) into build/bench-agent/, then run.
'use strict';
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
// Two levels below the repository, as the bundled test helpers (test/e2e) find it from their __dirname.
const OUT = path.join(REPO, 'build', 'bench-agent');

function benchAgent() {
  const esbuild = require('esbuild');
  for (const name of ['main', 'fleet']) {
    esbuild.buildSync({
      entryPoints: [path.join(__dirname, 'agent.d', `${name}.ts`)], outfile: path.join(OUT, `${name}.js`),
      bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning',
      define: { __BERTH_VERSION__: JSON.stringify(require('../../package.json').version) },
    });
  }
  return require(path.join(OUT, 'main.js')).benchAgent();
}

module.exports = { benchAgent };
