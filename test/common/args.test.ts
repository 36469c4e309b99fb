/** The one command-line parser every binary uses (urfave/cli style, as runc and crictl). */
import { BerthError } from '../../src/common/errors';
import { flagBool, flagHelp, flagList, flagString, helpText, parseArgs, type FlagSpec } from '../../src/common/args';

const specs: FlagSpec[] = [
  { name: 'quiet', short: 'q', kind: 'bool', help: 'only ids' },
  { name: 'output', short: 'o', kind: 'string', help: 'format', arg: 'FORMAT' },
  { name: 'env', short: 'e', kind: 'list', help: 'an environment variable' },
];

function fieldOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    if (err instanceof BerthError) return err.field;
    throw err;
  }
  return undefined;
}

describe('parseArgs', () => {
  test('long, short, single-dash long and = forms, before and after positionals', () => {
    const p = parseArgs(['images', '-q', '--output=json', 'ref', '-env', 'A=1', '-e', 'B=2'], specs);
    expect(p.positional).toEqual(['images', 'ref']);
    expect(flagBool(p, 'quiet')).toBe(true);
    expect(flagString(p, 'output')).toBe('json');
    expect(flagList(p, 'env')).toEqual(['A=1', 'B=2']);
    expect(flagString(p, 'missing')).toBeUndefined();
    expect(flagList(p, 'missing')).toEqual([]);
  });

  test('-- and stopAtFirstPositional hand the rest over untouched', () => {
    expect(parseArgs(['-q', '--', '-o', 'x'], specs).positional).toEqual(['-o', 'x']);
    const p = parseArgs(['-o', 'json', 'ctr', 'sh', '-c', 'echo -q'], specs, { stopAtFirstPositional: true });
    expect(p.positional).toEqual(['ctr', 'sh', '-c', 'echo -q']);
    expect(flagBool(p, 'quiet')).toBe(false);
  });

  test('booleans take true or false only', () => {
    expect(flagBool(parseArgs(['--quiet=false'], specs), 'quiet')).toBe(false);
    expect(fieldOf(() => parseArgs(['--quiet=yes'], specs))).toBe('--quiet');
  });

  test('errors name the flag: unknown, or a value missing', () => {
    expect(fieldOf(() => parseArgs(['--nope'], specs))).toBe('--nope');
    expect(fieldOf(() => parseArgs(['-o'], specs))).toBe('-o');
  });

  test('help texts list every flag with its value name', () => {
    expect(helpText('x [options]', 'does x', specs)).toContain('-o, --output FORMAT');
    expect(helpText('x', 'does x', specs)).toContain('-e, --env value');
    expect(flagHelp(specs)).toMatch(/-q, --quiet\s+only ids/);
  });
});
