// The cluster's image registry: Debian's docker-registry on 127.0.0.1 over plain HTTP, and the test images pushed
// into it — busybox (as docker.io/library/busybox) and the pause image (as registry.k8s.io/pause), both made
// locally from Debian's busybox-static by hack/fixtures.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { writeUnit, runUnit } = require('./units');
const { httpStatus } = require('./kube');

/** The pause image every runtime of the cluster uses for pod sandboxes (pushed as <registry>/pause:<tag>). */
const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';

async function startRegistry({ dir, port, controlPlane }) {
  const root = path.join(dir, 'registry');
  fs.mkdirSync(path.join(root, 'data'), { recursive: true });
  const config = path.join(root, 'config.yml');
  fs.writeFileSync(config, [
    'version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', `    rootdirectory: ${path.join(root, 'data')}`,
    '  delete:', '    enabled: true', 'http:', `  addr: 127.0.0.1:${port}`, '',
  ].join('\n'));
  const unitsDir = path.join(controlPlane, 'etc/systemd/system');
  writeUnit(unitsDir, 'docker-registry', { description: 'image registry of the cluster', exec: ['/usr/bin/docker-registry', 'serve', config] });
  const runner = await runUnit({
    unitsDir, stateDir: path.join(controlPlane, 'run/berth-units'), logDir: path.join(controlPlane, 'var/log'),
    name: 'docker-registry', ready: async () => (await httpStatus(port, '/v2/')) === 200,
  });
  return { unit: 'docker-registry', ...runner };
}

/** Builds the fixtures (no downloads) and pushes them: REGISTRY/library/busybox:latest and REGISTRY/pause:3.10. */
/** An OCI layout of hack/fixtures' (tag "latest") pushed as REGISTRY/<ref>, over plain HTTP. */
function pushLayout(registry, layout, ref) {
  execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:latest`, `docker://${registry}/${ref}`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
}

function pushTestImages({ repo, registry }) {
  const fixtures = execFileSync(path.join(repo, 'hack/fixtures'), [], { encoding: 'utf8' }).trim();
  pushLayout(registry, path.join(fixtures, 'oci-layout'), 'library/busybox:latest');
  pushLayout(registry, path.join(fixtures, 'pause-layout'), `pause:${PAUSE_IMAGE.split(':')[1]}`);
}

module.exports = { startRegistry, pushTestImages, pushLayout, PAUSE_IMAGE };
