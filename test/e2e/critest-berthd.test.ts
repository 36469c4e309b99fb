/**
 * critest v1.37.0 against berthd, through hack/critest (a one-node cluster on berthd, its kubelet stopped). The
 * bar is containerd 2.x's run on this machine (critest-baseline.json): berthd may fail only what containerd
 * fails here too, plus the gaps critest-berthd-gaps.json lists, each with its reason, as open work of issue 07.
 * A spec failing outside both lists, or fewer passes than containerd's minus the gaps, fails this test.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { down } from './cluster';

const REPO = path.resolve(__dirname, '..', '..');

interface Summary { critest: string; total: number; passed: number; failed: number; skipped: number; failures: string[] }
interface Baseline { critest: string; total: number; passed: number; knownFailures: Record<string, string> }

const baseline = JSON.parse(fs.readFileSync(path.join(__dirname, 'critest-baseline.json'), 'utf8')) as Baseline;
const gaps = JSON.parse(fs.readFileSync(path.join(__dirname, 'critest-berthd-gaps.json'), 'utf8')) as { gaps: Record<string, string> };
const name = `ctb${process.pid}`;
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-critest-berthd-'));

afterAll(() => {
  try {
    down(name);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test(`critest ${baseline.critest} against berthd: only containerd's failures and the listed gaps fail`, () => {
  const r = spawnSync(path.join(REPO, 'hack/critest'), ['--runtime', 'berthd', '--name', name, '--out', out], {
    encoding: 'utf8', timeout: 40 * 60_000, killSignal: 'SIGINT', maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`hack/critest → ${r.status ?? r.signal}\n${r.stderr.slice(-4000)}`);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as Summary;
  expect(summary.critest).toBe(baseline.critest);
  expect(summary.total).toBe(baseline.total);
  const unexpected = summary.failures.filter((f) => !(f in baseline.knownFailures) && !(f in gaps.gaps));
  if (unexpected.length) {
    throw new Error(`specs failing against berthd that neither list names:\n  ${unexpected.join('\n  ')}\n(critest's log: ${r.stderr.slice(-4000)})`);
  }
  // A gap that no longer fails should leave the list (it would hide a regression later).
  const closed = Object.keys(gaps.gaps).filter((g) => !summary.failures.includes(g));
  expect(closed).toEqual([]);
  expect(summary.passed).toBeGreaterThanOrEqual(baseline.passed - Object.keys(gaps.gaps).length);
}, 45 * 60_000);
