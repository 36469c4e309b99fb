/** Where the C helpers (src/native) are found, for every part that starts one. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from './errors';

const found = new Map<string, string>();

/**
 * build/bin/<name>: beside a bundled binary (whose __dirname is build/bin), or below the source tree's
 * package.json (tests, the library used from source). The environment variable, when set, wins.
 */
export function nativeBinary(name: string, envVar: string): string {
  const known = found.get(name);
  if (known) return known;
  const candidates = [process.env[envVar], path.join(__dirname, name)];
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) {
      candidates.push(path.join(dir, 'build', 'bin', name));
      break;
    }
  }
  for (const c of candidates) {
    if (c && fs.existsSync(c)) {
      found.set(name, c);
      return c;
    }
  }
  throw new BerthError('FailedPrecondition', `${name} not found: run \`npm run build\` or set ${envVar}`);
}
