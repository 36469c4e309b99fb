/** berthd's command line and life cycle: flags → config → image store → server → wait for a signal. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asBerthError, exitCodeOf, invalid } from '../common/errors';
import { Logger, type LogLevel } from '../common/log';
import type { ImageStoreApi, ImageStoreOptions } from '../image/api';
import { flagBool, flagHelp, flagString, parseArgs, type FlagSpec } from '../common/args';
import { DEFAULT_CONFIG_FILE, DEFAULT_ROOT, DEFAULT_STATE, METRICS_ADDR_FILE, loadConfig, type BerthdConfig, type ConfigOverrides } from './config';
import { startMetricsEndpoint, type MetricsEndpoint } from './observability/endpoint';
import { BerthdMetrics } from './observability/registry';
import { watchRuntimeDropIns } from './runtimes-reload';
import { withRuntimeDropIns } from './runtimes-dropin';
import { CriServer } from './server';
import { VERSION } from './version';

/** How berthd opens its image store (src/bin/berthd.ts passes the real one). */
export type ImageStoreFactory = (options: ImageStoreOptions, log: Logger) => ImageStoreApi;

const FLAGS: FlagSpec[] = [
  { name: 'config', kind: 'string', arg: 'FILE', help: `config file (default ${DEFAULT_CONFIG_FILE}; missing there = all defaults)` },
  { name: 'root', kind: 'string', arg: 'DIR', help: `persistent data: images, snapshots (default ${DEFAULT_ROOT})` },
  { name: 'state', kind: 'string', arg: 'DIR', help: `per-boot state (default ${DEFAULT_STATE})` },
  { name: 'listen', kind: 'string', arg: 'SOCKET', help: 'unix socket to serve on, unix:///path or /path (default <state>/berthd.sock)' },
  { name: 'log-level', kind: 'string', arg: 'LEVEL', help: 'debug, info, warn or error (default info, or logLevel in the config)' },
  { name: 'check-config', kind: 'bool', help: 'validate the configuration, print it as JSON and exit' },
  { name: 'version', short: 'v', kind: 'bool', help: 'print the version and exit' },
  { name: 'help', short: 'h', kind: 'bool', help: 'show this help' },
];

const USAGE = `berthd — Berth's CRI server on a unix socket: the runtime.v1 RuntimeService (pod sandboxes
without a pause process, containers through berth-shim) and ImageService

usage: berthd [OPTIONS]

OPTIONS:
${flagHelp(FLAGS)}

Logs are JSON lines on stderr. SIGTERM or SIGINT: stop accepting calls, let running ones finish
(10 s), abort the rest, remove the socket, exit 0. SIGHUP, or any change in the runtimes drop-in directory
(runtimesDir, one <handler>.yaml per handler): reload the runtime handlers, keeping the old ones if the
new configuration is invalid; nothing else is reloaded.
`;

/** Graceful-shutdown budget for calls in flight. */
const GRACE_MS = 10_000;

export async function berthdMain(argv: readonly string[], openStore: ImageStoreFactory): Promise<number> {
  let config: BerthdConfig;
  let configFile: string | undefined;
  let overrides: ConfigOverrides;
  try {
    const args = parseArgs(argv, FLAGS);
    if (flagBool(args, 'help')) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (flagBool(args, 'version')) {
      process.stdout.write(`berthd version ${VERSION}\n`);
      return 0;
    }
    if (args.positional.length > 0) throw invalid(args.positional[0], 'unexpected argument (see --help)');
    configFile = flagString(args, 'config');
    overrides = { root: flagString(args, 'root'), state: flagString(args, 'state'), listen: flagString(args, 'listen'), logLevel: flagString(args, 'log-level') };
    config = withRuntimeDropIns(loadConfig(configFile, overrides));
    if (flagBool(args, 'check-config')) {
      process.stdout.write(JSON.stringify(config, null, 2) + '\n');
      return 0;
    }
  } catch (err) {
    const e = asBerthError(err);
    process.stderr.write(`berthd: ${e.message}\n`);
    return exitCodeOf(e.kind);
  }
  return serve(config, openStore, { file: configFile, overrides });
}

async function serve(config: BerthdConfig, openStore: ImageStoreFactory, source: { file: string | undefined; overrides: ConfigOverrides }): Promise<number> {
  const log = new Logger({ level: config.logLevel as LogLevel, fields: { component: 'berthd' } });
  let store: ImageStoreApi | undefined;
  let server: CriServer | undefined;
  let endpoint: MetricsEndpoint | undefined;
  // Handlers first: a SIGTERM that arrives while the socket is being bound must stop berthd cleanly, not kill
  // it with the default action and leave the socket behind. Until serving, it is only remembered.
  let onSignal: (signal: NodeJS.Signals) => void = (signal) => { early = signal; };
  let early: NodeJS.Signals | undefined;
  const handler = (signal: NodeJS.Signals) => onSignal(signal);
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  try {
    // The root may hold layers that container processes read through overlay mounts: traversable, not listable.
    fs.mkdirSync(config.root, { recursive: true, mode: 0o711 });
    fs.mkdirSync(config.state, { recursive: true, mode: 0o700 });
    store = openStore({ root: config.root, registries: config.registries, maxConcurrentDownloads: config.maxConcurrentDownloads }, log.child({ component: 'image' }));
    const metrics = config.metricsAddress ? new BerthdMetrics(VERSION) : undefined;
    if (metrics) endpoint = await startMetricsEndpoint({ metrics, address: config.metricsAddress, addrFile: path.join(config.state, METRICS_ADDR_FILE), log });
    server = new CriServer({
      socket: config.listen, log, images: store, version: VERSION, metrics,
      runtime: {
        root: config.root, state: config.state, cni: config.cni, runtimes: config.runtimes, cgroupDriver: config.cgroupDriver,
        streamingAddress: config.streaming.address, pauseImage: config.sandbox.pauseImage,
      },
    });
    await server.start();
  } catch (err) {
    const e = asBerthError(err);
    log.error('cannot start', { kind: e.kind, error: e.message });
    process.stderr.write(`berthd: ${e.message}\n`);
    await endpoint?.close();
    await store?.close();
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
    return exitCodeOf(e.kind);
  }
  log.info('berthd started', { version: VERSION, pid: process.pid, root: config.root, state: config.state, socket: config.listen });

  const running = server;
  const stopWatching = watchRuntimeDropIns({ dir: config.runtimesDir, ...source, log, apply: (runtimes) => running.replaceRuntimeHandlers(runtimes) });
  const openedStore = store;
  const openedEndpoint = endpoint;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn('second signal: exiting now', { signal });
        process.exit(1);
      }
      stopping = true;
      stopWatching();
      log.info('shutting down', { signal });
      running.shutdown(GRACE_MS).then(() => openedEndpoint?.close()).then(() => openedStore.close()).then(
        () => {
          log.info('stopped');
          resolve(0);
        },
        (err: unknown) => {
          log.error('shutdown failed', { error: String(err) });
          resolve(1);
        },
      );
    };
    onSignal = stop;
    if (early) stop(early);
  });
}
