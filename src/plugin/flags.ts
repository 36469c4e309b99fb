/**
 * kubectl-berth's command line: one flag table, which flags each command takes (any other is an error naming
 * it), and the values checked into a Command. Pure, so that every refusal is unit-tested.
 */
import type { NodeMigrationSpec } from '../agent';
import { flagBool, flagString, parseArgs, type FlagSpec, type ParsedArgs } from '../common/args';
import { invalid } from '../common/errors';
import { parseDuration } from './duration';

export const FLAGS: FlagSpec[] = [
  { name: 'kubeconfig', kind: 'string', arg: 'FILE', help: 'kubeconfig (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' },
  { name: 'context', kind: 'string', arg: 'NAME', help: 'the kubeconfig context to use (default: its current context)' },
  { name: 'output', short: 'o', kind: 'string', arg: 'FORMAT', help: 'status, doctor, migrate --dry-run: table (default), json or yaml' },
  { name: 'timeout', kind: 'string', arg: 'D', help: 'doctor, migrate --dry-run: how long to wait for the preflight (default 120s)' },
  { name: 'dry-run', kind: 'bool', help: 'migrate: preflight only, as doctor (nothing changes on the node)' },
  { name: 'drain-timeout', kind: 'string', arg: 'D', help: 'migrate: how long evictions are retried before the migration fails (default 300s)' },
  { name: 'verify-timeout', kind: 'string', arg: 'D', help: 'migrate: how long the node has to be Ready on berthd after the switch (default 300s)' },
  { name: 'stop-old-runtime', kind: 'bool', help: 'migrate: stop the runtime kubelet leaves (it stays installed; a rollback starts it again)' },
  { name: 'grace-period', kind: 'string', arg: 'D', help: "migrate: each evicted pod's termination grace period (default: the pod's own)" },
  { name: 'delete-emptydir-data', kind: 'bool', help: 'migrate: evict pods with emptyDir volumes too (their data is lost)' },
  { name: 'force', kind: 'bool', help: 'migrate: go ahead despite blocking preflight findings' },
  { name: 'pre-pull', kind: 'bool', help: "migrate: pull the node's pod images into berthd before the switch" },
  { name: 'rollback-policy', kind: 'string', arg: 'POLICY', help: 'migrate: automatic (default: undo on failure) or manual (stop; kubectl berth rollback)' },
  { name: 'selector', short: 'l', kind: 'string', arg: 'SEL', help: 'migrate: every node matching this label selector (a pool), instead of NODE' },
  { name: 'max-unavailable', kind: 'string', arg: 'N', help: 'migrate --selector: nodes migrating at once (default 1)' },
  { name: 'watch', short: 'w', kind: 'bool', help: 'migrate, rollback: follow the migration until it ends' },
  { name: 'version', short: 'v', kind: 'bool', help: 'print the version' },
  { name: 'help', short: 'h', kind: 'bool', help: 'show this help' },
];

const COMMANDS = ['status', 'doctor', 'migrate', 'rollback'] as const;
type CommandName = (typeof COMMANDS)[number];

const GLOBAL = ['kubeconfig', 'context', 'help', 'version'];
const MIGRATE = ['drain-timeout', 'verify-timeout', 'stop-old-runtime', 'grace-period', 'delete-emptydir-data', 'force', 'pre-pull', 'rollback-policy'];
const APPLIES: Record<CommandName, readonly string[]> = {
  status: ['output'],
  doctor: ['output', 'timeout'],
  migrate: [...MIGRATE, 'dry-run', 'output', 'timeout', 'selector', 'max-unavailable', 'watch'],
  rollback: ['watch'],
};
const OUTPUTS = ['table', 'json', 'yaml'];
export const DOCTOR_TIMEOUT_DEFAULT = 120;

/** What a migration is asked to do, for any node. */
export type MigrationSettings = Omit<NodeMigrationSpec, 'node'>;

interface Conn { readonly kubeconfig?: string; readonly context?: string }
export type Command = Conn & (
  | { readonly kind: 'help' | 'version' | 'usage' }
  | { readonly kind: 'status'; readonly node?: string; readonly output: string }
  | { readonly kind: 'doctor'; readonly node: string; readonly output: string; readonly timeoutSeconds: number; readonly settings: MigrationSettings }
  | { readonly kind: 'migrate'; readonly node: string; readonly watch: boolean; readonly settings: MigrationSettings }
  | { readonly kind: 'pool'; readonly selector: string; readonly maxUnavailable: number; readonly settings: MigrationSettings }
  | { readonly kind: 'rollback'; readonly node: string; readonly watch: boolean }
);

const has = (a: ParsedArgs, name: string) => a.flags.has(name);

function settingsOf(a: ParsedArgs, dryRun: boolean): MigrationSettings {
  const policy = flagString(a, 'rollback-policy') ?? 'automatic';
  if (policy !== 'automatic' && policy !== 'manual') throw invalid('--rollback-policy', `must be automatic or manual, got ${JSON.stringify(policy)}`);
  const grace = flagString(a, 'grace-period');
  const timeout = flagString(a, 'drain-timeout');
  const drainTimeout = timeout === undefined ? 300 : parseDuration('--drain-timeout', timeout);
  if (drainTimeout < 1 || drainTimeout > 86400) throw invalid('--drain-timeout', 'must be from 1s to 24h');
  const verify = flagString(a, 'verify-timeout');
  const verifyTimeout = verify === undefined ? undefined : parseDuration('--verify-timeout', verify);
  if (verifyTimeout !== undefined && (verifyTimeout < 10 || verifyTimeout > 86400)) throw invalid('--verify-timeout', 'must be from 10s to 24h');
  const gracePeriod = grace === undefined ? undefined : parseDuration('--grace-period', grace);
  if (gracePeriod !== undefined && gracePeriod > 86400) throw invalid('--grace-period', 'must be at most 24h');
  return {
    targetRuntime: 'berth',
    drain: { timeoutSeconds: drainTimeout, ...(gracePeriod === undefined ? {} : { gracePeriodSeconds: gracePeriod }), deleteEmptyDirData: flagBool(a, 'delete-emptydir-data'), force: false },
    prePullImages: flagBool(a, 'pre-pull'),
    ...(verifyTimeout === undefined ? {} : { verifyTimeoutSeconds: verifyTimeout }),
    rollbackPolicy: policy === 'manual' ? 'Manual' : 'Automatic',
    ...(flagBool(a, 'stop-old-runtime') ? { stopOldRuntime: true } : {}),
    force: flagBool(a, 'force'),
    dryRun,
    rollback: false,
  };
}

function oneNode(command: string, rest: readonly string[]): string {
  if (rest.length === 0) throw invalid('NODE', `kubectl berth ${command} needs a node name`);
  if (rest.length > 1) throw invalid(rest[1], 'unexpected argument (see --help)');
  return rest[0];
}

export function parseCommand(argv: readonly string[]): Command {
  const a = parseArgs(argv, FLAGS);
  const conn: Conn = { kubeconfig: flagString(a, 'kubeconfig'), context: flagString(a, 'context') };
  if (flagBool(a, 'help')) return { ...conn, kind: 'help' };
  if (flagBool(a, 'version')) return { ...conn, kind: 'version' };
  if (a.positional.length === 0) return { ...conn, kind: 'usage' };
  const [command, ...rest] = a.positional;
  if (!(COMMANDS as readonly string[]).includes(command)) throw invalid(command, `unknown command (${COMMANDS.join(', ')}; see --help)`);
  const name = command as CommandName;
  for (const f of a.flags.keys()) {
    if (!GLOBAL.includes(f) && !APPLIES[name].includes(f)) throw invalid(`--${f}`, `does not apply to kubectl berth ${name}`);
  }
  const output = flagString(a, 'output') ?? 'table';
  if (!OUTPUTS.includes(output)) throw invalid('--output', `must be one of ${OUTPUTS.join(', ')}, got ${JSON.stringify(output)}`);
  const timeout = flagString(a, 'timeout');
  const timeoutSeconds = timeout === undefined ? DOCTOR_TIMEOUT_DEFAULT : parseDuration('--timeout', timeout);
  if (timeoutSeconds < 1) throw invalid('--timeout', 'must be at least 1s');
  switch (name) {
    case 'status':
      if (rest.length > 1) throw invalid(rest[1], 'unexpected argument (see --help)');
      return { ...conn, kind: 'status', node: rest[0], output };
    case 'doctor':
      return { ...conn, kind: 'doctor', node: oneNode(name, rest), output, timeoutSeconds, settings: settingsOf(a, true) };
    case 'rollback':
      return { ...conn, kind: 'rollback', node: oneNode(name, rest), watch: flagBool(a, 'watch') };
    case 'migrate':
      return migrateCommand(a, rest, conn, output, timeoutSeconds);
  }
}

function migrateCommand(a: ParsedArgs, rest: readonly string[], conn: Conn, output: string, timeoutSeconds: number): Command {
  const dryRun = flagBool(a, 'dry-run');
  for (const f of ['output', 'timeout']) if (has(a, f) && !dryRun) throw invalid(`--${f}`, 'applies to kubectl berth migrate only with --dry-run');
  const selector = flagString(a, 'selector');
  if (selector === undefined) {
    if (has(a, 'max-unavailable')) throw invalid('--max-unavailable', 'applies only with --selector');
    const node = oneNode('migrate', rest);
    if (dryRun) {
      if (has(a, 'watch')) throw invalid('--watch', 'does not apply with --dry-run (it waits for the report anyway)');
      return { ...conn, kind: 'doctor', node, output, timeoutSeconds, settings: settingsOf(a, true) };
    }
    return { ...conn, kind: 'migrate', node, watch: flagBool(a, 'watch'), settings: settingsOf(a, false) };
  }
  if (rest.length) throw invalid(rest[0], 'a node name and --selector do not go together');
  if (selector.trim() === '') throw invalid('--selector', 'must not be empty');
  if (dryRun) throw invalid('--dry-run', 'does not apply with --selector (run kubectl berth doctor for each node)');
  const n = flagString(a, 'max-unavailable') ?? '1';
  if (!/^\d+$/.test(n) || Number(n) < 1) throw invalid('--max-unavailable', `must be a whole number of at least 1, got ${JSON.stringify(n)}`);
  return { ...conn, kind: 'pool', selector, maxUnavailable: Number(n), settings: settingsOf(a, false) };
}
