#!/usr/bin/env node
// npm run bench -- <oci|pull|cni|shim|cri|kubelet|agent|all>
// Benchmarks report numbers (a table on stdout, JSON in build/bench/<name>.json); they never gate on targets.
'use strict';

/** Benchmark name → how to run it, or the issue that will bring it. */
const BENCHMARKS = {
  oci: () => require('./bench/oci').benchOci(),
  pull: () => require('./bench/pull').benchPull(),
  cni: () => require('./bench/cni').benchCni(),
  shim: () => require('./bench/shim').benchShim(),
  cri: () => require('./bench/cri').benchCri(),
  kubelet: () => require('./bench/kubelet').benchKubelet(),
  agent: () => require('./bench/agent').benchAgent(),
};

const USAGE = `usage: npm run bench -- <${[...Object.keys(BENCHMARKS), 'all'].join('|')}>
  env BENCH_RUNS (default 30), BENCH_WARMUP (default 2)
  kubelet: pod creation → Running through a real kubelet, one hack/cluster per runtime (berthd, containerd 2.x,
    containerd 1.6), one at a time; env BENCH_KUBELET_SEQ (default 20, one by one), BENCH_KUBELET_BURST (default
    50, at once), BENCH_KUBELET_RUNTIMES (default berthd,containerd-2,containerd-1.6)
  agent: one hack/cluster node with a real berth-agent plus simulated agents, one per extra Node object; env
    BENCH_AGENT_NODES (default 500, all agents), BENCH_AGENT_REST_SECONDS (default 300, the at-rest window)
`;

async function main(argv) {
  if (argv.length !== 1 || argv[0] === '-h' || argv[0] === '--help') {
    process.stderr.write(USAGE);
    return argv[0] === '-h' || argv[0] === '--help' ? 0 : 2;
  }
  const which = argv[0];
  if (which !== 'all' && !(which in BENCHMARKS)) {
    process.stderr.write(`unknown benchmark "${which}"\n${USAGE}`);
    return 2;
  }
  const names = which === 'all' ? Object.keys(BENCHMARKS) : [which];
  let status = 0;
  for (const name of names) {
    const b = BENCHMARKS[name];
    if (typeof b !== 'function') {
      process.stdout.write(`bench ${name}: not implemented yet (issue ${b.issue})\n`);
      if (which !== 'all') status = 1;
      continue;
    }
    process.stdout.write(`bench ${name}\n`);
    await b();
  }
  return status;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? (process.env.BENCH_DEBUG ? err.stack : err.message) : err}\n`);
    process.exitCode = 1;
  },
);
