/**
 * The layering `npm run lint` enforces (hack/check-imports.js): bin → component faces → common, no cycles.
 * The real tree is clean; a tree with each kind of breach gets each reported.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';

const { check } = require('../../hack/check-imports') as { check(src: string): string[] };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-layering-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('src/ keeps to its layering', () => {
  expect(check(path.resolve(__dirname, '..', '..', 'src'))).toEqual([]);
});

test('deep imports, common importing a component, imports of bin/ and cycles are each reported', () => {
  const src = path.join(tmp, 'src');
  const files: Record<string, string> = {
    'common/log.ts': "import { x } from '../oci/index';\nexport const log = x;\n",
    'oci/index.ts': "export { x } from './inner/x';\n",
    'oci/inner/x.ts': "import type { y } from './y';\nexport const x = 1;\n",
    'oci/inner/y.ts': "import { x } from './x';\nexport const y = x;\n",
    'shim/tasks.ts': "import { x } from '../oci/inner/x';\nimport { x as face } from '../oci';\nimport '../bin/main';\nexport const t = x + face;\n",
    'bin/main.ts': "import { t } from '../shim/tasks';\nexport const m = t;\n",
  };
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    fs.writeFileSync(path.join(src, f), text);
  }
  const problems = check(src);
  expect(problems).toEqual(expect.arrayContaining([
    'src/common/log.ts: imports src/oci/index.ts (common/ imports no component)',
    'src/shim/tasks.ts: imports src/oci/inner/x.ts, inside oci/ (use src/oci/index.ts or api.ts)',
    'src/shim/tasks.ts: imports src/bin/main.ts (nothing imports bin/)',
    'src/bin/main.ts: imports src/shim/tasks.ts, inside shim/ (use src/shim/index.ts or api.ts)',
  ]));
  expect(problems.filter((p) => p.startsWith('import cycle:')).sort()).toEqual([
    'import cycle: src/bin/main.ts → src/shim/tasks.ts → src/bin/main.ts',
    'import cycle: src/oci/inner/x.ts → src/oci/inner/y.ts → src/oci/inner/x.ts',
  ]);
  expect(problems).toHaveLength(6);
});
