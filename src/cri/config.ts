/**
 * berthd's configuration: /etc/berth/config.yaml (or --config), every key with a default, validated once
 * here. Errors name the key path (`registries."registry.k8s.io".mirrors[0]: …`, `cni.binDirs[1]: …`).
 *
 *   root: /var/lib/berth              # images, snapshots, records (persistent)
 *   state: /run/berth                 # sockets, per-boot state
 *   listen: unix:///run/berth/berthd.sock   # default: <state>/berthd.sock
 *   logLevel: info
 *   maxConcurrentDownloads: 3
 *   registries: {...}                 # src/image/registry/config.ts
 *   cni: {confDir: /etc/cni/net.d, binDirs: [/opt/cni/bin, /usr/lib/cni]}
 *   runtimes: {runc: {path: /usr/sbin/runc}}
 *   runtimesDir: /etc/berth/runtimes.d  # one <handler>.yaml per handler ({path, root}); default: runtimes.d beside this file
 *   streaming: {address: "127.0.0.1:0"}
 *   cgroupDriver: cgroupfs           # or systemd: must match the kubelet's cgroupDriver
 *   sandbox: {pauseImage: ""}         # "" (default): no pause process; an image: an infra container per pod
 *   metricsAddress: "127.0.0.1:0"     # Prometheus /metrics on loopback (port 0: a free one); "" or off: none
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { BerthError, invalid } from '../common/errors';
import type { LogLevel } from '../common/log';
import { validateRegistriesConfig, type RegistriesConfig } from '../image/api';

export const DEFAULT_CONFIG_FILE = '/etc/berth/config.yaml';
export const DEFAULT_ROOT = '/var/lib/berth';
export const DEFAULT_STATE = '/run/berth';
export const SOCKET_NAME = 'berthd.sock';
export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:0';
/** Where berthd writes the metrics endpoint's bound address (`host:port`, one line), for berth-agent. */
export const METRICS_ADDR_FILE = 'metrics.addr';

export interface RuntimeHandlerConfig {
  /** Absolute path of a runc-compatible binary. */
  path: string;
  /** Its --root (state directory); default: chosen by the runtime service (issue 05). */
  root?: string;
}

export interface BerthdConfig {
  root: string;
  state: string;
  /** Absolute path of the unix socket berthd serves on. */
  listen: string;
  logLevel: LogLevel;
  maxConcurrentDownloads: number;
  registries: RegistriesConfig;
  cni: { confDir: string; binDirs: string[] };
  runtimes: Record<string, RuntimeHandlerConfig>;
  /** Drop-in handlers (runtimes-dropin.ts), read at start and again on SIGHUP or when the directory changes. */
  runtimesDir: string;
  streaming: { address: string };
  cgroupDriver: 'cgroupfs' | 'systemd';
  /** pauseImage "" = namespaces pinned by bind mounts alone; otherwise every pod runs this image as its infra container. */
  sandbox: { pauseImage: string };
  /** Loopback host:port of the Prometheus /metrics endpoint (port 0: a free one); "" = not served. */
  metricsAddress: string;
}

/** Command-line overrides; a value here wins over the file. */
export interface ConfigOverrides {
  root?: string;
  state?: string;
  listen?: string;
  logLevel?: string;
}

const TOP_KEYS = ['root', 'state', 'listen', 'logLevel', 'maxConcurrentDownloads', 'registries', 'cni', 'runtimes', 'runtimesDir', 'streaming', 'cgroupDriver', 'sandbox', 'metricsAddress'] as const;
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
/** A RuntimeClass handler is a DNS label (node.k8s.io/v1). */
const HANDLER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `a.b`, `a."x.y"`, `a[0]`: a key that is not a plain identifier is quoted, so the path reads unambiguously. */
export function keyPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  const k = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  return parent ? `${parent}.${k}` : k;
}

type Obj = Record<string, unknown>;

function isMap(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function map(v: unknown, field: string, known: readonly string[]): Obj {
  if (!isMap(v)) throw invalid(field, 'must be a map');
  for (const k of Object.keys(v)) {
    if (!known.includes(k)) throw invalid(keyPath(field, k), `unknown key (known: ${known.join(', ')})`);
  }
  return v;
}

function absPath(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw invalid(field, 'must be an absolute path');
  if (!path.isAbsolute(v)) throw invalid(field, `must be an absolute path, got "${v}"`);
  return path.normalize(v);
}

/** `unix:///path` or `/path` → the socket path. Only unix sockets: the CRI carries no authentication. */
export function parseListen(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw invalid(field, 'must be unix:///path/to/socket');
  const p = v.startsWith('unix://') ? v.slice('unix://'.length) : v;
  if (/^[a-z][a-z0-9+.-]*:/i.test(p)) throw invalid(field, `"${v}": only unix sockets are served (unix:///path)`);
  const sock = absPath(p, field);
  // sun_path holds 107 bytes and a NUL.
  if (Buffer.byteLength(sock) > 107) throw invalid(field, `socket path is ${Buffer.byteLength(sock)} bytes; the limit is 107`);
  return sock;
}

function logLevel(v: unknown, field: string): LogLevel {
  if (typeof v !== 'string' || !(LOG_LEVELS as readonly string[]).includes(v)) throw invalid(field, `must be one of ${LOG_LEVELS.join(', ')}`);
  return v as LogLevel;
}

function hostPort(v: unknown, field: string): string {
  if (typeof v !== 'string') throw invalid(field, 'must be "host:port" (port 0 picks a free one)');
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw invalid(field, `"${v}": must be "host:port" with a port 0-65535`);
  return v;
}

/**
 * The metrics endpoint's address: served to berth-agent on the node only, unauthenticated, so loopback only
 * (127.0.0.0/8 or [::1]); "" or `off` turns it off.
 */
export function metricsAddress(v: unknown, field: string): string {
  if (v === '' || v === 'off' || v === false) return '';
  const hint = 'must be a loopback "host:port" (127.0.0.1:PORT or [::1]:PORT; port 0 picks a free one), or "" / off for none';
  if (typeof v !== 'string') throw invalid(field, hint);
  const m = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw invalid(field, `"${v}": ${hint}`);
  const host = m[1];
  const loopbackV4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  const ok = host === '[::1]' || (loopbackV4 !== null && loopbackV4.slice(1).every((o) => Number(o) <= 255 && String(Number(o)) === o));
  if (!ok) throw invalid(field, `"${v}": the host must be a loopback address (127.0.0.0/8 or [::1]): the endpoint has no authentication`);
  return `${host}:${Number(m[2])}`;
}

/** The registries map, checked by the image library; its key paths re-quoted the way this file writes them. */
function registries(v: unknown, field: string): RegistriesConfig {
  if (v === undefined || v === null) return {};
  if (!isMap(v)) throw invalid(field, 'must be a map of registry host → settings');
  for (const [host, entry] of Object.entries(v)) {
    try {
      validateRegistriesConfig({ [host]: entry }, field);
    } catch (err) {
      if (!(err instanceof BerthError) || !err.field) throw err;
      const plain = `${field}.${host}`;
      const rest = err.field.startsWith(plain) ? err.field.slice(plain.length) : '';
      const message = err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
      throw invalid(err.field.startsWith(plain) ? keyPath(field, host) + rest : err.field, message);
    }
  }
  return v as RegistriesConfig;
}

function runtimes(v: unknown, field: string): Record<string, RuntimeHandlerConfig> {
  if (v === undefined || v === null) return {};
  if (!isMap(v)) throw invalid(field, 'must be a map of handler name → {path}');
  const out: Record<string, RuntimeHandlerConfig> = {};
  for (const [name, entry] of Object.entries(v)) {
    const f = keyPath(field, name);
    validateHandlerName(name, f);
    out[name] = validateRuntimeHandler(entry, f);
  }
  return out;
}

export function validateHandlerName(name: string, field: string): void {
  if (!HANDLER_NAME.test(name)) throw invalid(field, 'handler names are DNS labels (lower-case letters, digits, "-"; at most 63)');
}

/** One handler's settings: `{path, root}`. */
export function validateRuntimeHandler(entry: unknown, field: string): RuntimeHandlerConfig {
  const e = map(entry, field, ['path', 'root']);
  if (e.path === undefined) throw invalid(keyPath(field, 'path'), 'is required');
  const out: RuntimeHandlerConfig = { path: absPath(e.path, keyPath(field, 'path')) };
  if (e.root !== undefined) out.root = absPath(e.root, keyPath(field, 'root'));
  return out;
}

/** Validates a parsed document (an object from YAML) and fills in defaults. */
export function validateConfig(doc: unknown, overrides: ConfigOverrides = {}, configFile = DEFAULT_CONFIG_FILE): BerthdConfig {
  if (doc !== undefined && doc !== null && !isMap(doc)) throw new BerthError('InvalidArgument', 'the config must be a map of keys (root, state, registries, …)');
  const d = doc === undefined || doc === null ? {} : map(doc, '', TOP_KEYS);
  const root = overrides.root !== undefined ? absPath(path.resolve(overrides.root), '--root') : d.root === undefined ? DEFAULT_ROOT : absPath(d.root, 'root');
  const state = overrides.state !== undefined ? absPath(path.resolve(overrides.state), '--state') : d.state === undefined ? DEFAULT_STATE : absPath(d.state, 'state');
  const listen = overrides.listen !== undefined
    ? parseListen(overrides.listen.startsWith('unix://') ? overrides.listen : path.resolve(overrides.listen), '--listen')
    : d.listen === undefined ? path.join(state, SOCKET_NAME) : parseListen(d.listen, 'listen');

  let maxConcurrentDownloads = 3;
  if (d.maxConcurrentDownloads !== undefined) {
    const n = d.maxConcurrentDownloads;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 64) throw invalid('maxConcurrentDownloads', 'must be an integer from 1 to 64');
    maxConcurrentDownloads = n;
  }

  const cniDoc = d.cni === undefined ? {} : map(d.cni, 'cni', ['confDir', 'binDirs']);
  let binDirs = ['/opt/cni/bin', '/usr/lib/cni'];
  if (cniDoc.binDirs !== undefined) {
    if (!Array.isArray(cniDoc.binDirs) || cniDoc.binDirs.length === 0) throw invalid('cni.binDirs', 'must be a non-empty list of absolute paths');
    binDirs = cniDoc.binDirs.map((b, i) => absPath(b, keyPath('cni.binDirs', i)));
  }
  const confDir = cniDoc.confDir === undefined ? '/etc/cni/net.d' : absPath(cniDoc.confDir, 'cni.confDir');

  const streamingDoc = d.streaming === undefined ? {} : map(d.streaming, 'streaming', ['address']);
  const address = streamingDoc.address === undefined ? '127.0.0.1:0' : hostPort(streamingDoc.address, 'streaming.address');

  const cgroupDriver = d.cgroupDriver === undefined ? 'cgroupfs' : d.cgroupDriver;
  if (cgroupDriver !== 'cgroupfs' && cgroupDriver !== 'systemd') throw invalid('cgroupDriver', `must be cgroupfs or systemd, got ${JSON.stringify(cgroupDriver)}`);

  const sandboxDoc = d.sandbox === undefined || d.sandbox === null ? {} : map(d.sandbox, 'sandbox', ['pauseImage']);
  const pauseImage = sandboxDoc.pauseImage ?? '';
  if (typeof pauseImage !== 'string' || /\s/.test(pauseImage)) throw invalid('sandbox.pauseImage', 'must be an image reference such as registry.k8s.io/pause:3.10, or "" for none');

  return {
    root,
    state,
    listen,
    logLevel: overrides.logLevel !== undefined ? logLevel(overrides.logLevel, '--log-level') : d.logLevel === undefined ? 'info' : logLevel(d.logLevel, 'logLevel'),
    maxConcurrentDownloads,
    registries: registries(d.registries, 'registries'),
    cni: { confDir, binDirs },
    runtimes: runtimes(d.runtimes, 'runtimes'),
    runtimesDir: d.runtimesDir === undefined ? path.join(path.dirname(configFile), 'runtimes.d') : absPath(d.runtimesDir, 'runtimesDir'),
    streaming: { address },
    cgroupDriver,
    sandbox: { pauseImage },
    metricsAddress: d.metricsAddress === undefined || d.metricsAddress === null ? DEFAULT_METRICS_ADDRESS : metricsAddress(d.metricsAddress, 'metricsAddress'),
  };
}

/** Parses YAML text; syntax errors and duplicate keys name the file, line and column. */
export function parseConfigText(text: string, file: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    const message = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new BerthError('InvalidArgument', `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${message}`);
  }
  return doc.toJS({ maxAliasCount: 100 });
}

/**
 * Reads and validates the config. A missing file is fine at the default path (every key has a default) and
 * an error when the path was given explicitly.
 */
export function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}): BerthdConfig {
  const at = file ?? DEFAULT_CONFIG_FILE;
  let text: string | undefined;
  try {
    text = fs.readFileSync(at, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!(code === 'ENOENT' && file === undefined)) {
      throw new BerthError(code === 'ENOENT' ? 'NotFound' : 'InvalidArgument', `config file ${at}: ${(err as Error).message}`, { cause: err });
    }
  }
  const doc = text === undefined ? undefined : parseConfigText(text, at);
  try {
    return validateConfig(doc, overrides, at);
  } catch (err) {
    // The key path is the useful part; say which file it is in.
    if (err instanceof BerthError && text !== undefined && !err.field?.startsWith('--')) {
      throw new BerthError(err.kind, `${at}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
