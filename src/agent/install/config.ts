/**
 * berthd's /etc/berth/config.yaml, rendered from the agent's settings. The agent owns the keys that place
 * berthd on its node (root, state, listen, cni, runtimesDir, cgroupDriver, logLevel); the paths in them are
 * the daemons' view of the host (layout.ts). Keys the agent does not own (registries, streaming, sandbox, …)
 * are taken from the settings when given, else kept from the file already on the node, so that a node's own
 * registry mirrors survive the agent. The file is replaced atomically and only when its bytes change, since
 * a changed config is what restarts berthd.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { writeFileAtomic } from '../../common/atomic';
import type { LogLevel } from '../../common/log';
import type { CgroupDriver } from './kubelet-cgroup';
import type { Layout } from './layout';

export interface BerthdSettings {
  readonly cgroupDriver: CgroupDriver;
  readonly logLevel?: LogLevel;
  /** berthd's `registries` (per host: mirrors, insecure, ca, auth); undefined: keep the node's. */
  readonly registries?: Readonly<Record<string, unknown>>;
  /** Other keys berthd knows and the agent does not own (`streaming`, `sandbox`, `maxConcurrentDownloads`). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** The first words of the config the agent writes (uninstall removes only a file that has them). */
export const CONFIG_MARK = '# Written by berth-agent';

/** The keys the agent decides; everything else in an existing file is the node's. */
export const AGENT_KEYS = ['root', 'state', 'listen', 'logLevel', 'cni', 'runtimesDir', 'cgroupDriver'] as const;

type Doc = Record<string, unknown>;

/** The existing file's document (a broken or missing file: nothing to keep). */
function parseExisting(text: string | undefined): Doc {
  if (!text) return {};
  try {
    const doc: unknown = parse(text);
    return doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Doc) : {};
  } catch {
    return {};
  }
}

/** Pure: the config text for these settings, given the file's current text (for the keys the node owns). */
export function renderBerthdConfig(layout: Layout, settings: BerthdSettings, existingText?: string): string {
  const d = layout.daemon;
  const kept: Doc = {};
  for (const [k, v] of Object.entries(parseExisting(existingText))) {
    if (!(AGENT_KEYS as readonly string[]).includes(k)) kept[k] = v;
  }
  const doc: Doc = {
    root: d.root,
    state: d.state,
    listen: `unix://${d.socket}`,
    logLevel: settings.logLevel ?? 'info',
    cgroupDriver: settings.cgroupDriver,
    cni: { confDir: d.cniConfDir, binDirs: [d.cniBinDir] },
    runtimesDir: d.runtimesDir,
    ...kept,
    ...(settings.extra ?? {}),
  };
  if (settings.registries !== undefined) doc.registries = settings.registries;
  return `${CONFIG_MARK}: root, state, listen, logLevel, cgroupDriver, cni and runtimesDir are its own;\n# other keys are kept. Runtime handlers are files in runtimesDir.\n${stringify(doc, { lineWidth: 0 })}`;
}

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

export interface WriteResult {
  readonly changed: boolean;
  /** The file as the agent sees it. */
  readonly file: string;
  /** sha256 of the bytes now in the file. */
  readonly sha256: string;
}

/** Replaces `file` with `text` when its bytes differ (temp file, fsync, rename). */
export function writeIfChanged(file: string, text: string, mode = 0o644): WriteResult {
  let current: Buffer | undefined;
  try {
    current = fs.readFileSync(file);
  } catch {
    current = undefined;
  }
  const next = Buffer.from(text);
  if (current && current.equals(next)) return { changed: false, file, sha256: sha256Hex(next) };
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  writeFileAtomic(file, next, mode);
  return { changed: true, file, sha256: sha256Hex(next) };
}

/** Renders and writes berthd's config and creates its runtimes.d; `changed` says whether berthd must restart. */
export function writeBerthdConfig(layout: Layout, settings: BerthdSettings): WriteResult {
  const file = layout.agent.config;
  let existing: string | undefined;
  try {
    existing = fs.readFileSync(file, 'utf8');
  } catch {
    existing = undefined;
  }
  fs.mkdirSync(layout.agent.runtimesDir, { recursive: true, mode: 0o755 });
  return writeIfChanged(file, renderBerthdConfig(layout, settings, existing));
}
