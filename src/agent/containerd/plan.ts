/**
 * What the files containerd reads should hold for a set of handlers, from what they hold now (pure): the
 * main config (with Berth's `imports` entry on 2.x, Berth's block on 1.x), one drop-in per handler (2.x), and
 * the backup of the original main config. No handlers at all means no trace of Berth: the original config back
 * byte for byte when nobody else changed it since, else the current one with only Berth's edits taken out.
 */
import { invalid, precondition } from '../../common/errors';
import type { ConfigBackup } from './backup';
import { dropInFileName, handlerOfDropIn, isOwnedDropIn, renderDropIn, renderRuntimeTables, validateHandler, type ContainerdHandler } from './dropin';
import { configVersion, ensureImport, minimalConfig, MINIMAL_CONFIG_MARK, removeImport } from './imports';
import { blockHandlers, foreignHandlers, removeBlock, setBlock } from './inline-block';
import { scanToml } from './toml';
import type { HandlerLayout } from './version';

export interface ObservedFiles {
  /** The main config's bytes; undefined when there is no file. */
  readonly main: Buffer | undefined;
  readonly mainMode?: number;
  /** Every `*.toml` in the drop-in directory, by file name. */
  readonly dropIns: ReadonlyMap<string, Buffer>;
  readonly backup: ConfigBackup | undefined;
}

export interface PlanOptions {
  readonly layout: HandlerLayout;
  /** The config version a main config that does not exist is written with. */
  readonly defaultVersion: number;
  /** The `imports` entry naming the drop-ins: `<dropInDir>/berth-*.toml`. */
  readonly glob: string;
  /** For messages. */
  readonly configPath: string;
}

export interface FilePlan {
  /** The main config's bytes as they should be (undefined: no file). */
  readonly main: Buffer | undefined;
  /** Drop-ins by file name, as they should be (undefined: removed); names absent here stay as they are. */
  readonly dropIns: ReadonlyMap<string, Buffer | undefined>;
  readonly backup: ConfigBackup | undefined;
  /** Handlers Berth had configured before, and will have after. */
  readonly before: readonly string[];
  readonly after: readonly string[];
}

function text(buf: Buffer, file: string): string {
  const s = buf.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(buf)) throw invalid(file, 'is not UTF-8: Berth cannot edit it');
  return s;
}

/** The main config with every edit Berth makes taken out (its import and its block). */
const stripped = (t: string, glob: string, file: string): string => removeBlock(removeImport(t, glob, file), file);

/** What containerd had before Berth, as text, or undefined for no file. */
function originalText(o: ObservedFiles, file: string): string | undefined {
  if (o.backup) return o.backup.existed ? text(o.backup.content ?? Buffer.alloc(0), `${file} (backup)`) : undefined;
  return o.main ? text(o.main, file) : undefined;
}

function mainWithout(o: ObservedFiles, opt: PlanOptions): Buffer | undefined {
  if (!o.main) return undefined;
  const file = opt.configPath;
  const current = stripped(text(o.main, file), opt.glob, file);
  const original = originalText(o, file);
  // Only Berth changed the file since the backup: the original comes back as it was, byte for byte.
  const bases = original === undefined ? [minimalConfig(opt.defaultVersion, opt.glob), `${MINIMAL_CONFIG_MARK}\nversion = ${opt.defaultVersion}\n`] : [original];
  const onlyBerth = bases.some((b) => current === b || current === stripped(ensureImport(b, opt.glob, file), opt.glob, file) || current === stripped(setBlock(b, '#\n', file), opt.glob, file));
  if (o.backup && onlyBerth) return o.backup.existed ? (o.backup.content ?? Buffer.alloc(0)) : undefined;
  return Buffer.from(current, 'utf8');
}

function checkForeign(desired: readonly ContainerdHandler[], mainText: string, o: ObservedFiles, opt: PlanOptions): void {
  const names = desired.map((h) => h.handler);
  const taken = foreignHandlers(mainText, names, opt.configPath).map((h) => [h, opt.configPath] as const);
  if (opt.layout === 'dropins') {
    for (const [name, buf] of o.dropIns) {
      const t = buf.toString('utf8');
      if (isOwnedDropIn(t)) continue;
      if (handlerOfDropIn(name) && names.includes(handlerOfDropIn(name)!)) throw precondition(`${name} in the drop-in directory was not written by Berth; remove it or pick another handler name`);
      try {
        scanToml(t);
      } catch {
        continue; // not ours to judge; containerd will say
      }
      for (const h of foreignHandlers(t, names, name)) taken.push([h, name]);
    }
  }
  const [first] = taken;
  if (first) throw invalid('spec.handler', `${first[0]} is already defined by ${first[1]}: Berth does not take over a runtime the node's containerd config has`);
}

export function planHandlers(desired: readonly ContainerdHandler[], o: ObservedFiles, opt: PlanOptions): FilePlan {
  const file = opt.configPath;
  const seen = new Set<string>();
  for (const h of desired) {
    validateHandler(h);
    if (seen.has(h.handler)) throw invalid('spec.handler', `${h.handler} is given twice`);
    seen.add(h.handler);
  }
  const mainText = o.main ? text(o.main, file) : undefined;
  const version = mainText !== undefined ? (configVersion(mainText, file) ?? 1) : opt.defaultVersion;
  if (opt.layout === 'dropins' && version < 2) throw precondition(`${file} has config version ${version}, which containerd 2.x does not read; migrate it (containerd config migrate)`);

  const owned = [...o.dropIns].filter(([name, buf]) => handlerOfDropIn(name) && isOwnedDropIn(buf.toString('utf8')));
  const before = [...new Set([...owned.map(([n]) => handlerOfDropIn(n)!), ...(mainText ? blockHandlers(mainText, version, file) : [])])].sort();
  const after = desired.map((h) => h.handler).sort();
  const dropIns = new Map<string, Buffer | undefined>();
  for (const [name] of owned) dropIns.set(name, undefined);

  if (desired.length === 0) {
    return { main: mainWithout(o, opt), dropIns, backup: undefined, before, after };
  }
  checkForeign(desired, mainText ?? '', o, opt);

  let main: string;
  if (opt.layout === 'dropins') {
    main = mainText !== undefined ? ensureImport(removeBlock(mainText, file), opt.glob, file) : minimalConfig(version, opt.glob);
    for (const h of desired) {
      const name = dropInFileName(h.handler);
      const want = Buffer.from(renderDropIn(h, version), 'utf8');
      const have = o.dropIns.get(name);
      if (have && have.equals(want)) dropIns.delete(name);
      else dropIns.set(name, want);
    }
  } else {
    const tables = desired.map((h) => renderRuntimeTables(h, version)).join('');
    const base = mainText !== undefined ? removeImport(mainText, opt.glob, file) : `${MINIMAL_CONFIG_MARK}\nversion = ${version}\n`;
    main = setBlock(base, tables, file);
  }
  const mainBuf = Buffer.from(main, 'utf8');
  const editing = !o.main || !mainBuf.equals(o.main);
  const backup: ConfigBackup | undefined = o.backup ?? (editing ? (o.main ? { existed: true, content: o.main, ...(o.mainMode !== undefined ? { mode: o.mainMode } : {}) } : { existed: false }) : undefined);
  return { main: mainBuf, dropIns, backup, before, after };
}
