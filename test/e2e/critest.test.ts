/**
 * critest (cri-tools' CRI validation suite, the pinned v1.37.0) against a containerd 2.x node, through
 * hack/critest: a one-node cluster with its kubelet stopped, the test images made locally. What containerd
 * passes here is the baseline berthd has to meet (issue 07); critest-baseline.json holds it, with the reason
 * for each spec containerd fails on this machine. A spec failing that is not listed there, or fewer passes,
 * fails this test.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { down } from './cluster';

const REPO = path.resolve(__dirname, '..', '..');

interface Summary {
  runtime: string;
  critest: string;
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
}

interface Baseline {
  critest: string;
  date: string;
  total: number;
  passed: number;
  knownFailures: Record<string, string>;
}

const baseline = JSON.parse(fs.readFileSync(path.join(__dirname, 'critest-baseline.json'), 'utf8')) as Baseline;
const name = `ct${process.pid}`;
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-critest-'));

afterAll(() => {
  try {
    down(name); // hack/critest takes its cluster down itself; this is for a run cut short
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test(`critest ${baseline.critest} against containerd 2.x: at least the baseline's ${baseline.passed} passes, no failure but the known ones`, () => {
  const r = spawnSync(path.join(REPO, 'hack/critest'), ['--runtime', 'containerd', '--name', name, '--out', out], {
    encoding: 'utf8', timeout: 40 * 60_000, killSignal: 'SIGINT', maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`hack/critest → ${r.status ?? r.signal}\n${r.stderr.slice(-4000)}`);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as Summary;
  expect(summary.critest).toBe(baseline.critest);
  expect(summary.total).toBe(baseline.total);
  const unexpected = summary.failures.filter((f) => !(f in baseline.knownFailures));
  if (unexpected.length) {
    throw new Error(`specs failing that critest-baseline.json does not list:\n  ${unexpected.join('\n  ')}\n(critest's log: ${r.stderr.slice(-4000)})`);
  }
  expect(summary.passed).toBeGreaterThanOrEqual(baseline.passed);
  expect(summary.passed + summary.failed + summary.skipped).toBe(summary.total);
}, 45 * 60_000);
