/**
 * The pure half of handlers on containerd nodes: TOML quoting, the drop-in and block renderers, the editors of
 * the main config (each edit undone byte for byte), the planner, the version parser and the health judgement.
 * The real containerds read what these produce in containerd-apply.test.ts.
 */
import { describe, expect, test } from '@jest/globals';
import { BerthError } from '../../src/common/errors';
import { dropInFileName, handlerOfDropIn, isOwnedDropIn, renderDropIn, renderRuntimeTables, type ContainerdHandler } from '../../src/agent/containerd/dropin';
import { judgeStatus, runtimesOf } from '../../src/agent/containerd/health';
import { configVersion, ensureImport, importsOf, minimalConfig, removeImport } from '../../src/agent/containerd/imports';
import { BLOCK_BEGIN, BLOCK_END, blockHandlers, foreignHandlers, removeBlock, setBlock } from '../../src/agent/containerd/inline-block';
import { planHandlers, type ObservedFiles, type PlanOptions } from '../../src/agent/containerd/plan';
import { scanToml, tomlKey, tomlPath, tomlString } from '../../src/agent/containerd/toml';
import { layoutFor, parseContainerdVersion } from '../../src/agent/containerd/version';

const GLOB = '/etc/containerd/berth.d/berth-*.toml';
const h = (handler: string, extra: Partial<ContainerdHandler> = {}): ContainerdHandler => ({ handler, binaryName: '/usr/sbin/runc', systemdCgroup: false, ...extra });

function errorOf(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error('expected a BerthError');
}

describe('TOML quoting and scanning', () => {
  test('strings escape quotes, backslashes and control characters; keys stay bare only when TOML allows', () => {
    expect(tomlString('a"b\\c\nd\te\u0001f\u007f')).toBe('"a\\"b\\\\c\\nd\\te\\u0001f\\u007f"');
    expect(tomlString('ünï')).toBe('"ünï"');
    expect(tomlKey('runc-v2_x')).toBe('runc-v2_x');
    expect(tomlKey('io.containerd.grpc.v1.cri')).toBe('"io.containerd.grpc.v1.cri"');
    expect(tomlKey('a b')).toBe('"a b"');
    expect(tomlPath(['plugins', 'io.containerd.cri.v1.runtime', 'containerd'])).toBe('plugins."io.containerd.cri.v1.runtime".containerd');
  });

  test('the scanner decodes what the quoting writes, and finds headers after multi-line values', () => {
    const weird = 'x"y\\z\n';
    const text = `a = ${tomlString(weird)}\nb = [\n  [1, 2], # nested\n  "]",\n]\nc = """\n[not a table]\n"""\n[${tomlPath(['t', weird])}]\n  k = 1\n[[arr.'lit']]\n`;
    const l = scanToml(text);
    expect(l.entries.map((e) => e.key.join('.'))).toEqual(['a', 'b', 'c']);
    expect(l.headers.map((x) => [x.path, x.array])).toEqual([[['t', weird], false], [['arr', 'lit'], true]]);
    expect(text.slice(l.tablesStart)).toMatch(/^\[t\./);
  });
});

describe('drop-ins and blocks', () => {
  test('a containerd 2.x drop-in: owned mark, version, the runtime under the v3 CRI runtime plugin', () => {
    const text = renderDropIn(h('fast', { root: '/run/fast', systemdCgroup: true }), 3);
    expect(isOwnedDropIn(text)).toBe(true);
    expect(text).toContain('\nversion = 3\n');
    expect(text).toContain('[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.fast]\n  runtime_type = "io.containerd.runc.v2"\n');
    expect(text).toContain('[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.fast.options]\n  BinaryName = "/usr/sbin/runc"\n  Root = "/run/fast"\n  SystemdCgroup = true\n');
    const l = scanToml(text);
    expect(l.headers.map((x) => x.path)).toEqual([
      ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes', 'fast'],
      ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes', 'fast', 'options'],
    ]);
  });

  test('version 2 and version 1 naming; no Root line without a root; a path needing escapes is escaped', () => {
    expect(renderRuntimeTables(h('a'), 2)).toMatch(/^\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.a\]\n/);
    expect(renderRuntimeTables(h('a'), 1)).toMatch(/^\[plugins\.cri\.containerd\.runtimes\.a\]\n/);
    expect(renderRuntimeTables(h('a'), 2)).not.toContain('Root');
    expect(renderRuntimeTables(h('a', { binaryName: '/opt/x"y/run\\c' }), 3)).toContain('BinaryName = "/opt/x\\"y/run\\\\c"');
  });

  test('bad handlers are refused naming the spec field', () => {
    expect(errorOf(() => renderDropIn(h('Not_A_Label'), 3)).field).toBe('spec.handler');
    expect(errorOf(() => renderDropIn(h('a', { binaryName: 'runc' }), 3)).field).toBe('spec.runtime.path');
    expect(errorOf(() => renderDropIn(h('a', { root: 'rel' }), 3)).field).toBe('spec.runtime.root');
  });

  test('file names: berth-<handler>.toml, and only such names map back to a handler', () => {
    expect(dropInFileName('kata')).toBe('berth-kata.toml');
    expect(handlerOfDropIn('berth-kata.toml')).toBe('kata');
    expect(handlerOfDropIn('nvidia.toml')).toBeUndefined();
    expect(handlerOfDropIn('berth-Bad.toml')).toBeUndefined();
  });

  test('the 1.x block: appended, replaced in place, removed back to the same bytes; its handlers read back', () => {
    const original = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "p:1"\n# trailing comment\n';
    const one = setBlock(original, renderRuntimeTables(h('a'), 2));
    expect(one.startsWith(original)).toBe(true);
    expect(one).toContain(`${BLOCK_BEGIN}\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.a]`);
    expect(one.endsWith(`${BLOCK_END}\n`)).toBe(true);
    const two = setBlock(one, renderRuntimeTables(h('a'), 2) + renderRuntimeTables(h('b'), 2));
    expect(blockHandlers(two, 2)).toEqual(['a', 'b']);
    expect(two.startsWith(original)).toBe(true);
    expect(removeBlock(two)).toBe(original);
    expect(setBlock(two, '')).toBe(original);
    expect(() => removeBlock(`${original}${BLOCK_BEGIN}\n`)).toThrow(BLOCK_END);
  });

  test('handlers the node config defines itself are found, in any CRI plugin naming, but not inside our block', () => {
    const cfg = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]\n  runtime_type = "io.containerd.runc.v2"\n';
    expect(foreignHandlers(cfg, ['nvidia', 'kata'])).toEqual(['nvidia']);
    expect(foreignHandlers("[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.kata.options]\n", ['kata'])).toEqual(['kata']);
    expect(foreignHandlers(setBlock('version = 2\n', renderRuntimeTables(h('kata'), 2)), ['kata'])).toEqual([]);
  });
});

describe('the imports entry', () => {
  const cases: Array<[string, string]> = [
    ['no imports, a version and tables', 'version = 3\nroot = "/var/lib/containerd"\n\n[grpc]\n  address = "/run/c.sock"\n'],
    ['no tables, no final newline', 'version = 2'],
    ['an empty file', ''],
    ['an empty array', 'version = 2\nimports = []\n[grpc]\n'],
    ['one import', 'version = 3\nimports = ["/etc/containerd/conf.d/*.toml"] # keep\n[grpc]\n'],
    ['a multi-line array with comments and a trailing comma', "version = 2\nimports = [\n  '/a/*.toml', # first\n  \"/b/*.toml\",\n]\n[debug]\n  level = \"info\"\n"],
  ];
  test.each(cases)('%s: added once, before any table, and removed back to the same bytes', (_, text) => {
    const edited = ensureImport(text, GLOB);
    expect(importsOf(edited)).toEqual([...importsOf(text), GLOB]);
    expect(ensureImport(edited, GLOB)).toBe(edited);
    const l = scanToml(edited);
    expect(l.entries.some((e) => e.key.join('.') === 'imports')).toBe(true);
    expect(configVersion(edited)).toBe(configVersion(text));
    // Everything outside the imports value keeps its bytes.
    expect(l.headers.map((x) => x.path)).toEqual(scanToml(text).headers.map((x) => x.path));
    const back = removeImport(edited, GLOB);
    expect(back === text || (text === 'version = 2' && back === 'version = 2\n')).toBe(true);
  });

  test('an import that is there already is kept as it is, and only our entry is ever removed', () => {
    const text = `imports = ["/x/*.toml", ${tomlString(GLOB)}]\n`;
    expect(ensureImport(text, GLOB)).toBe(text);
    expect(removeImport(text, GLOB)).toBe('imports = ["/x/*.toml"]\n');
    expect(removeImport('imports = ["/x/*.toml"]\n', GLOB)).toBe('imports = ["/x/*.toml"]\n');
  });

  test('configs Berth cannot edit are refused, naming the file and key', () => {
    expect(errorOf(() => ensureImport('imports = "/x.toml"\n', GLOB, '/etc/c.toml')).field).toBe('/etc/c.toml.imports');
    expect(errorOf(() => ensureImport('version = [\n', GLOB, '/etc/c.toml')).field).toBe('/etc/c.toml');
    expect(errorOf(() => configVersion('version = "two"\n', '/etc/c.toml')).field).toBe('/etc/c.toml.version');
  });

  test('a containerd without a config gets version and imports only', () => {
    const m = minimalConfig(3, GLOB);
    expect(configVersion(m)).toBe(3);
    expect(importsOf(m)).toEqual([GLOB]);
    expect(scanToml(m).headers).toEqual([]);
  });
});

describe('planHandlers', () => {
  const opt = (layout: 'dropins' | 'inline'): PlanOptions => ({ layout, defaultVersion: layout === 'dropins' ? 3 : 2, glob: GLOB, configPath: '/etc/containerd/config.toml' });
  const observed = (main: string | undefined, extra: Partial<ObservedFiles> = {}): ObservedFiles => ({ main: main === undefined ? undefined : Buffer.from(main), mainMode: 0o640, dropIns: new Map(), backup: undefined, ...extra });
  const str = (b: Buffer | undefined) => b?.toString('utf8');

  test('2.x: one drop-in per handler in the main config version, the import added, the original backed up', () => {
    const main = 'version = 2\n[grpc]\n  address = "/run/c.sock"\n';
    const p = planHandlers([h('a'), h('b', { root: '/run/b' })], observed(main), opt('dropins'));
    expect([...p.dropIns.keys()]).toEqual(['berth-a.toml', 'berth-b.toml']);
    expect(str(p.dropIns.get('berth-b.toml'))).toContain('version = 2\n');
    expect(str(p.dropIns.get('berth-b.toml'))).toContain('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.b.options]');
    expect(importsOf(str(p.main)!)).toEqual([GLOB]);
    expect(p.backup).toEqual({ existed: true, content: Buffer.from(main), mode: 0o640 });
    expect(p.after).toEqual(['a', 'b']);
  });

  test('nothing to do when the files already say it; a removed handler\'s drop-in goes', () => {
    const first = planHandlers([h('a'), h('b')], observed(undefined), opt('dropins'));
    const now = observed(str(first.main), { dropIns: first.dropIns as Map<string, Buffer>, backup: first.backup });
    const again = planHandlers([h('a'), h('b')], now, opt('dropins'));
    expect(again.dropIns.size).toBe(0);
    expect(again.main!.equals(first.main!)).toBe(true);
    const fewer = planHandlers([h('a')], now, opt('dropins'));
    expect([...fewer.dropIns]).toEqual([['berth-b.toml', undefined]]);
    expect(fewer.before).toEqual(['a', 'b']);
  });

  test('no handlers: the original comes back byte for byte, or no file when there was none', () => {
    const main = 'version = 3\n# a comment, kept\n[grpc]\n  address = "/run/c.sock"';
    const p = planHandlers([h('a')], observed(main), opt('dropins'));
    const gone = planHandlers([], observed(str(p.main), { dropIns: p.dropIns as Map<string, Buffer>, backup: p.backup }), opt('dropins'));
    expect(str(gone.main)).toBe(main);
    expect(gone.backup).toBeUndefined();
    expect([...gone.dropIns]).toEqual([['berth-a.toml', undefined]]);
    const fresh = planHandlers([h('a')], observed(undefined), opt('inline'));
    expect(fresh.backup).toEqual({ existed: false });
    const none = planHandlers([], observed(str(fresh.main), { backup: fresh.backup }), opt('inline'));
    expect(none.main).toBeUndefined();
  });

  test('no handlers after someone else edited the config too: only our edit goes, theirs stays', () => {
    const main = 'version = 2\n[grpc]\n  address = "/run/c.sock"\n';
    const p = planHandlers([h('a')], observed(main), opt('inline'));
    const theirs = `${str(p.main)}[debug]\n  level = "debug"\n`;
    const gone = planHandlers([], observed(theirs, { backup: p.backup }), opt('inline'));
    expect(str(gone.main)).toBe(`${main}[debug]\n  level = "debug"\n`);
  });

  test('1.x: the handlers go in the block, leftover drop-ins from a 2.x layout are removed', () => {
    const main = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "p:1"\n';
    const leftover = Buffer.from(renderDropIn(h('old'), 3));
    const p = planHandlers([h('a')], observed(main, { dropIns: new Map([['berth-old.toml', leftover]]) }), opt('inline'));
    expect(str(p.main)!.startsWith(main)).toBe(true);
    expect(blockHandlers(str(p.main)!, 2)).toEqual(['a']);
    expect([...p.dropIns]).toEqual([['berth-old.toml', undefined]]);
    expect(p.before).toEqual(['old']);
  });

  test('a handler the node config or a foreign drop-in defines is refused; a foreign berth-<h>.toml too', () => {
    const main = 'version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.a]\n';
    expect(errorOf(() => planHandlers([h('a')], observed(main), opt('dropins'))).message).toContain('already defined by /etc/containerd/config.toml');
    const foreign = new Map([['nvidia.toml', Buffer.from("[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.b]\n")]]);
    expect(errorOf(() => planHandlers([h('b')], observed('version = 3\n', { dropIns: foreign }), opt('dropins'))).message).toContain('nvidia.toml');
    const squatter = new Map([['berth-c.toml', Buffer.from('# mine\n')]]);
    expect(errorOf(() => planHandlers([h('c')], observed('version = 3\n', { dropIns: squatter }), opt('dropins'))).kind).toBe('FailedPrecondition');
    expect(errorOf(() => planHandlers([h('d'), h('d')], observed('version = 3\n'), opt('dropins'))).field).toBe('spec.handler');
  });

  test('a version-1 config on containerd 2.x is refused (2.x does not read it)', () => {
    expect(errorOf(() => planHandlers([h('a')], observed('[grpc]\n'), opt('dropins'))).kind).toBe('FailedPrecondition');
  });
});

describe('version and health', () => {
  test('Debian 1.6 and upstream 2.x version lines', () => {
    const deb = parseContainerdVersion('containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n');
    expect([deb.major, deb.minor, layoutFor(deb)]).toEqual([1, 6, 'inline']);
    const up = parseContainerdVersion('containerd github.com/containerd/containerd v2.4.2 \n');
    expect([up.major, up.minor, layoutFor(up)]).toEqual([2, 4, 'dropins']);
    expect(() => parseContainerdVersion('something else')).toThrow(BerthError);
  });

  test('healthy: RuntimeReady and exactly the expected handlers in the CRI config', () => {
    const reply = (ready: boolean, runtimes: string[]) => ({
      status: { conditions: [{ type: 'RuntimeReady', status: ready, reason: ready ? '' : 'Down' }, { type: 'NetworkReady', status: false }] },
      info: { config: JSON.stringify({ containerd: { runtimes: Object.fromEntries(runtimes.map((r) => [r, {}])) } }) },
    });
    expect(runtimesOf(reply(true, ['runc', 'a']).info)).toEqual(['a', 'runc']);
    expect(judgeStatus(reply(true, ['runc', 'a']), { present: ['a'], absent: ['b'] }).ok).toBe(true);
    expect(judgeStatus(reply(true, ['runc']), { present: ['a'], absent: [] })).toEqual({ ok: false, message: 'not loaded: a (runtimes: runc)' });
    expect(judgeStatus(reply(true, ['runc', 'b']), { present: [], absent: ['b'] }).message).toMatch(/^still configured: b/);
    expect(judgeStatus(reply(false, ['a']), { present: ['a'], absent: [] }).message).toBe('RuntimeReady is false (Down)');
    expect(judgeStatus({ status: reply(true, []).status }, { present: [], absent: [] }).ok).toBe(false);
  });
});
