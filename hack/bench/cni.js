// `npm run bench -- cni`: ADD then DEL of the list bridge + host-local + portmap + loopback (one port mapping,
// masquerade on) in a real netns, through the invoker: our plugins in-process, our executables, and Debian's
// reference plugins (/usr/lib/cni), interleaved in the same run. Prints medians and ratios, writes
// build/bench/cni.json. Reports; never gates.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { envInt, now, ms, summary, table } = require('./common');

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'build', 'bin');
const REFERENCE = process.env.BENCH_CNI_REFERENCE || '/usr/lib/cni';

/** The invoker as berthd loads it: bundled from source. */
function bundleLibrary(outfile) {
  require('esbuild').buildSync({
    stdin: { contents: "export { Invoker, networkFromText } from './src/cni/invoker';\nexport { pruneShared } from './src/cni/pkg/firewall';\n", resolveDir: REPO, sourcefile: 'bench-cni.ts', loader: 'ts' },
    outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning',
  });
  return require(outfile);
}

function conflist(name, types, bridge, dataDir, subnet) {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name,
    plugins: [
      { type: types.bridge, bridge, isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: types.ipam, dataDir, ranges: [[{ subnet }]] } },
      { type: types.portmap, capabilities: { portMappings: true } },
      { type: types.loopback },
    ],
  });
}

async function benchCni() {
  for (const f of [path.join(BIN, 'berth-netlink'), path.join(BIN, 'berth-bridge'), path.join(REFERENCE, 'bridge')]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing (npm run build; Debian's containernetworking-plugins)`);
  }
  const runs = envInt('BENCH_RUNS', 20, 1);
  const warmup = envInt('BENCH_WARMUP', 2, 0);
  const outDir = path.join(REPO, 'build', 'bench');
  fs.mkdirSync(outDir, { recursive: true });
  const lib = bundleLibrary(path.join(outDir, 'cni-lib.js'));
  const tag = `bb${process.pid}`;
  const scratch = fs.mkdtempSync('/tmp/berth-bench-cni-');
  const nsName = `${tag}ns`;
  const netns = `/var/run/netns/${nsName}`;
  const ours = { bridge: 'berth-bridge', ipam: 'berth-host-local', portmap: 'berth-portmap', loopback: 'berth-loopback' };
  const theirs = { bridge: 'bridge', ipam: 'host-local', portmap: 'portmap', loopback: 'loopback' };
  const variants = [
    { key: 'inproc', name: 'Berth plugins, in-process (invoker)', invoker: new lib.Invoker({ binDirs: [BIN], cacheDir: path.join(scratch, 'c1') }), types: ours, n: 1 },
    { key: 'exec', name: 'Berth plugin executables', invoker: new lib.Invoker({ binDirs: [BIN], cacheDir: path.join(scratch, 'c2'), registry: {} }), types: ours, n: 2 },
    { key: 'reference', name: 'reference plugins (Go, /usr/lib/cni)', invoker: new lib.Invoker({ binDirs: [REFERENCE], cacheDir: path.join(scratch, 'c3'), registry: {} }), types: theirs, n: 3 },
  ];
  for (const v of variants) {
    v.bridge = `${tag}b${v.n}`;
    v.net = lib.networkFromText(conflist(`${tag}n${v.n}`, v.types, v.bridge, path.join(scratch, `d${v.n}`), `10.${150 + v.n}.0.0/24`));
    v.times = [];
  }
  execFileSync('ip', ['netns', 'add', nsName]);
  try {
    let port = 41000 + (process.pid % 10000);
    for (let i = 0; i < warmup + runs; i++) {
      for (const v of variants) {
        const att = { containerId: `${tag}c${i}`, netns, ifname: 'eth0', capabilityArgs: { portMappings: [{ hostPort: port++, containerPort: 80, protocol: 'tcp' }] } };
        const t0 = now();
        await v.invoker.add(v.net, att);
        await v.invoker.del(v.net, att);
        const t = ms(t0, now());
        if (i >= warmup) v.times.push(t);
      }
    }
  } finally {
    execFileSync('ip', ['netns', 'del', nsName]);
    for (const v of variants) {
      try { execFileSync('ip', ['link', 'del', v.bridge], { stdio: 'ignore' }); } catch { /* not created */ }
    }
    await lib.pruneShared('nftables').catch(() => undefined);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const ref = summary(variants[2].times).median;
  const rows = variants.map((v) => {
    const s = summary(v.times);
    return [v.name, s.median.toFixed(1), s.p90.toFixed(1), (s.median / ref).toFixed(2) + '×'];
  });
  process.stdout.write(`ADD + DEL of bridge + host-local + portmap + loopback, ${runs} runs (median of each)\n`);
  process.stdout.write(table(['', 'median ms', 'p90 ms', 'vs reference'], rows));
  const inproc = summary(variants[0].times).median;
  const met = inproc <= 0.5 * ref;
  process.stdout.write(`target in-process ≤ 0.5× reference: ${met ? 'MET' : 'MISS'} (${inproc.toFixed(1)} ms vs 0.5 × ${ref.toFixed(1)} = ${(0.5 * ref).toFixed(1)} ms)\n`);
  const json = { runs, results: Object.fromEntries(variants.map((v) => [v.key, { name: v.name, ...summary(v.times), samples: v.times }])), target: { inprocVsReference: inproc / ref, met } };
  fs.writeFileSync(path.join(outDir, 'cni.json'), JSON.stringify(json, null, 2));
}

module.exports = { benchCni };
