// The binaries of the test peers, from hack/peers: built first when missing (that takes long the first time, and
// says so), never silently replaced by something else.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const PEERS = path.join(__dirname, '..', 'peers');

function list(names) {
  const r = spawnSync(PEERS, ['--list', ...names], { encoding: 'utf8' });
  const bins = new Map();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [name, version, file] = line.split(' ');
    bins.set(name, { version, file });
  }
  return { bins, complete: r.status === 0 };
}

/** NAME → { version, file } for every binary of the named peers, building those not built yet. */
function peerBinaries(names, progress = (m) => process.stderr.write(`${m}\n`)) {
  let found = list(names);
  if (!found.complete) {
    progress(`building missing peers with hack/peers ${names.join(' ')} (the first build takes many minutes)`);
    const built = spawnSync(PEERS, names, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (built.status !== 0) throw new Error(`hack/peers ${names.join(' ')} failed (status ${built.status ?? built.signal})`);
    found = list(names);
    if (!found.complete) throw new Error(`hack/peers ${names.join(' ')} built, but --list still misses some`);
  }
  return found.bins;
}

module.exports = { peerBinaries };
