/**
 * A runtime handler as containerd's CRI plugin config: a runc v2 shim runtime whose `BinaryName` is the
 * handler's runc-compatible binary. Rendered for the plugin naming of each config version (1: `cri`, 2:
 * `io.containerd.grpc.v1.cri` — containerd 1.x; 3 and later: `io.containerd.cri.v1.runtime` — containerd 2.x),
 * either as a drop-in file of its own (containerd 2.x, read through `imports`) or as bare tables for the block
 * Berth keeps in a 1.x main config (see inline-block.ts for why 1.x cannot take drop-ins).
 */
import { invalid } from '../../common/errors';
import { tomlPath, tomlString } from './toml';

export interface ContainerdHandler {
  /** The CRI handler name (RuntimeClass `handler`): a DNS-1123 label. */
  readonly handler: string;
  /** Absolute path of the runc-compatible binary, as containerd's host sees it. */
  readonly binaryName: string;
  /** The runtime's state directory (runc `--root`); the shim's default when absent. */
  readonly root?: string;
  readonly systemdCgroup: boolean;
}

/** First line of every drop-in Berth writes: only files starting with it are ever changed or removed. */
export const DROPIN_MARK = '# Owned by Berth: written and removed by berth-agent; edits are overwritten.';
const PREFIX = 'berth-';
const SUFFIX = '.toml';

export const dropInFileName = (handler: string): string => `${PREFIX}${handler}${SUFFIX}`;

/** The handler a drop-in file name is for, or undefined for names Berth does not use. */
export function handlerOfDropIn(name: string): string | undefined {
  if (!name.startsWith(PREFIX) || !name.endsWith(SUFFIX)) return undefined;
  const h = name.slice(PREFIX.length, -SUFFIX.length);
  return isDnsLabel(h) ? h : undefined;
}

export const isOwnedDropIn = (text: string): boolean => text.startsWith(`${DROPIN_MARK}\n`);

const isDnsLabel = (s: string): boolean => s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s);

/** Checks a handler before anything is written; fields named as in the RuntimeHandler spec. */
export function validateHandler(h: ContainerdHandler): void {
  if (!isDnsLabel(h.handler)) throw invalid('spec.handler', `${JSON.stringify(h.handler)} is not a DNS-1123 label`);
  if (!h.binaryName.startsWith('/')) throw invalid('spec.runtime.path', `${JSON.stringify(h.binaryName)} is not an absolute path`);
  if (h.root !== undefined && !h.root.startsWith('/')) throw invalid('spec.runtime.root', `${JSON.stringify(h.root)} is not an absolute path`);
}

/** The key path of the CRI plugin section that holds `containerd.runtimes` in a config of `version`. */
export function criRuntimePlugin(version: number): readonly string[] {
  if (version <= 1) return ['plugins', 'cri'];
  if (version === 2) return ['plugins', 'io.containerd.grpc.v1.cri'];
  return ['plugins', 'io.containerd.cri.v1.runtime'];
}

/** The key path of a handler's runtime table in a config of `version`. */
export const runtimeTablePath = (handler: string, version: number): readonly string[] => [...criRuntimePlugin(version), 'containerd', 'runtimes', handler];

/** The handler's two tables: the runtime and its runc options. */
export function renderRuntimeTables(h: ContainerdHandler, version: number): string {
  validateHandler(h);
  const table = runtimeTablePath(h.handler, version);
  return [
    `[${tomlPath(table)}]`,
    `  runtime_type = ${tomlString('io.containerd.runc.v2')}`,
    `[${tomlPath([...table, 'options'])}]`,
    `  BinaryName = ${tomlString(h.binaryName)}`,
    ...(h.root !== undefined ? [`  Root = ${tomlString(h.root)}`] : []),
    `  SystemdCgroup = ${h.systemdCgroup}`,
    '',
  ].join('\n');
}

/**
 * A drop-in file for containerd 2.x. Its `version` must not be above the main config's (containerd 2.x
 * refuses such a drop-in), so it is the main config's version, written with that version's plugin naming;
 * containerd migrates older drop-ins itself.
 */
export function renderDropIn(h: ContainerdHandler, version: number): string {
  return [
    DROPIN_MARK,
    `# Runtime handler ${JSON.stringify(h.handler)} for the CRI; delete the RuntimeHandler to remove it.`,
    `version = ${version}`,
    '',
    renderRuntimeTables(h, version),
  ].join('\n');
}
