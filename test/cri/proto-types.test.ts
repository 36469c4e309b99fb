/** The generated CRI message types (src/cri/proto/gen) are what hack/gen-proto-types makes from the .proto files now. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';

const REPO = path.resolve(__dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-proto-types-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

test('src/cri/proto/gen is up to date (run hack/gen-proto-types after changing a .proto file)', () => {
  const fresh = path.join(tmp, 'gen');
  execFileSync(path.join(REPO, 'hack/gen-proto-types'), [fresh], { stdio: 'pipe', timeout: 120_000 });
  const want = files(fresh);
  const have = files(path.join(REPO, 'src/cri/proto/gen'));
  expect(Object.keys(have).sort()).toEqual(Object.keys(want).sort());
  const stale = Object.keys(want).filter((f) => have[f] !== want[f]);
  expect(stale).toEqual([]);
  expect(Object.keys(want).length).toBeGreaterThan(150);
}, 150_000);
