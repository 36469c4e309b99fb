/**
 * The external OCI conformance suite, opencontainers/runtime-tools' validation programs, run under runc and
 * under berth-run: every TAP assertion that passes under runc must pass under berth-run. The programs are
 * built outside the repository by hack/oci-validation (Go, from the module proxy; cached), which also runs
 * them and reports TAP results as JSON. Absolute results depend on the host (cgroup v1 controllers,
 * AppArmor, kernel), which is why runc on the same machine is the reference. Where a program encodes an
 * older spec rule (process_capabilities_fail: 1.0's error for an unknown capability, a warning since 1.1)
 * runc and berth-run both follow the current spec, and the comparison still holds.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BERTH_RUN, PEER_BINARY, REPO, cleanupTempDirs, requireTools, tempDir } from '../helpers/oci';

const SCRIPT = path.join(REPO, 'hack', 'oci-validation');

interface Assertion {
  key: string;
  status: 'passed' | 'failed' | 'skipped';
  line: string;
  diag?: string;
}

interface ProgramResult {
  name: string;
  rc: number;
  timedOut: boolean;
  seconds: number;
  tests: Assertion[];
  stderr: string;
}

/** Builds the programs (a no-op once cached) and lists them; the error says what to run by hand. */
function programs(): { names: string[] } | { error: string } {
  try {
    execFileSync(SCRIPT, ['build'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20 * 60_000 });
    const names = execFileSync(SCRIPT, ['list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    return names.length ? { names } : { error: 'hack/oci-validation list printed no programs' };
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    return { error: `the runtime-tools validation programs could not be built: run \`hack/oci-validation build\` (needs Go and the Go module proxy)\n${stderr || (err as Error).message}` };
  }
}

/** hack/oci-validation run, asynchronously, so that both runtimes run at the same time. */
function runSuite(runtime: string, names: string[], jobs: number, out: string): Promise<ProgramResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(SCRIPT, ['run', '--runtime', runtime, '--jobs', String(jobs), '--timeout', '60', '--json', out, ...names], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (b: Buffer) => { log += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { log += b.toString(); });
    child.on('error', reject);
    // Exit 1 only says that some assertion failed, which is expected (runc fails some too).
    child.on('close', (code) => {
      if (!fs.existsSync(out)) reject(new Error(`hack/oci-validation run --runtime ${runtime} exited ${code} without results:\n${log}`));
      else resolve(JSON.parse(fs.readFileSync(out, 'utf8')) as ProgramResult[]);
    });
  });
}

/** Assertions that pass under `reference` and not under `candidate`, each with what the candidate said. */
function regressions(reference: ProgramResult, candidate: ProgramResult): string[] {
  const got = new Map(candidate.tests.map((t) => [t.key, t]));
  const out: string[] = [];
  for (const t of reference.tests) {
    if (t.status !== 'passed') continue;
    const c = got.get(t.key);
    if (c?.status === 'passed') continue;
    const detail = c ? `${c.status}: ${c.line}${c.diag ? `\n      ${c.diag.trim().split('\n').join('\n      ')}` : ''}` : 'not reported';
    out.push(`  ${t.key}\n    berth-run: ${detail}`);
  }
  if (out.length) out.push(`  (berth-run: exit ${candidate.timedOut ? 'timeout' : candidate.rc}, stderr: ${candidate.stderr.trim().split('\n').slice(-3).join(' | ') || '-'})`);
  return out;
}

const found = programs();
const results: { runc: Map<string, ProgramResult>; berth: Map<string, ProgramResult>; retried: Set<string> } = {
  runc: new Map(), berth: new Map(), retried: new Set(),
};

afterAll(() => cleanupTempDirs());

if ('error' in found) {
  test('runtime-tools validation programs are built', () => {
    throw new Error(found.error);
  });
} else {
  const { names } = found;

  beforeAll(async () => {
    requireTools('runc');
    const dir = tempDir('berth-oci-validation-');
    // Both runtimes side by side, three programs each at a time: the programs mostly sleep in 1 s status
    // polls. The programs sharing the fixed cgroup "/cgrouptest" are serialised by hack/oci-validation.
    const [runc, berth] = await Promise.all([
      runSuite(PEER_BINARY.runc, names, 3, path.join(dir, 'runc.json')),
      runSuite(BERTH_RUN, names, 3, path.join(dir, 'berth.json')),
    ]);
    for (const r of runc) results.runc.set(r.name, r);
    for (const r of berth) results.berth.set(r.name, r);
    // The programs poll with fixed timeouts (a few seconds) and a loaded machine can miss them: a program
    // that differs is run once more under berth-run alone before it counts.
    const differing = names.filter((n) => {
      const a = results.runc.get(n);
      const b = results.berth.get(n);
      return !a || !b || regressions(a, b).length > 0;
    });
    if (differing.length) {
      for (const r of await runSuite(BERTH_RUN, differing, 1, path.join(dir, 'berth-retry.json'))) {
        results.berth.set(r.name, r);
        results.retried.add(r.name);
      }
    }
  }, 10 * 60_000);

  describe('berth-run passes what runc passes (runtime-tools validation)', () => {
    test.each(names)('%s', (name) => {
      const runc = results.runc.get(name);
      const berth = results.berth.get(name);
      if (!runc || !berth) throw new Error(`${name}: no result (runc: ${!!runc}, berth-run: ${!!berth})`);
      const retried = results.retried.has(name) ? ' (after a second, serial run)' : '';
      const lost = regressions(runc, berth);
      if (lost.length) throw new Error(`${name}: ${lost.length - 1} assertion(s) pass under runc but not under berth-run${retried}:\n${lost.join('\n')}`);
    });
  });
}
