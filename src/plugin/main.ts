/**
 * kubectl-berth, the kubectl plugin (`kubectl berth …`: kubectl runs any `kubectl-berth` on PATH): the user's
 * kubeconfig and context as kubectl has them, plain reads of the API, kubectl-style output. Only `status` so
 * far; doctor, migrate and rollback come with the rest of issue 09.
 */
import { stringify } from 'yaml';
import { flagBool, flagHelp, flagString, parseArgs, type FlagSpec } from '../common/args';
import { asBerthError, exitCodeOf, invalid } from '../common/errors';
import { table } from '../common/table';
import { KubeClient, parseBerthNode, parseNodeMigration } from '../agent';
import { nodeStatuses, statusTable } from './status';

declare const __BERTH_VERSION__: string | undefined;
const VERSION = typeof __BERTH_VERSION__ === 'string' ? __BERTH_VERSION__ : '0.0.0-dev';

const FLAGS: FlagSpec[] = [
  { name: 'kubeconfig', kind: 'string', arg: 'FILE', help: 'kubeconfig (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' },
  { name: 'context', kind: 'string', arg: 'NAME', help: 'the kubeconfig context to use (default: its current context)' },
  { name: 'output', short: 'o', kind: 'string', arg: 'FORMAT', help: 'table (default), json or yaml' },
  { name: 'version', short: 'v', kind: 'bool', help: 'print the version' },
  { name: 'help', short: 'h', kind: 'bool', help: 'show this help' },
];

const USAGE = `kubectl berth — Berth's kubectl plugin.

usage: kubectl berth status [NODE] [OPTIONS]   per node: kubelet's runtime, the Berth stack and berthd, the
                                              runtime handlers and their phase, the node's migration

OPTIONS:
${flagHelp(FLAGS)}
`;

const OUTPUTS = ['table', 'json', 'yaml'];

/** A list call that names what RBAC refused, as kubectl does. */
async function list(kube: KubeClient, path: string, what: string): Promise<unknown[]> {
  try {
    const body = await kube.get(path);
    return Array.isArray(body?.items) ? (body.items as unknown[]) : [];
  } catch (err) {
    const e = asBerthError(err);
    if (e.kind === 'PermissionDenied') throw new Error(`cannot list ${what}: ${e.message}`);
    throw e;
  }
}

async function status(kube: KubeClient, node: string | undefined, output: string): Promise<string> {
  const [nodes, berthNodes, migrations] = await Promise.all([
    list(kube, '/api/v1/nodes', 'nodes'),
    list(kube, '/apis/berth.dev/v1alpha1/berthnodes', 'berthnodes.berth.dev'),
    // Before issue 09's CRD is installed there are no migrations to show.
    list(kube, '/apis/berth.dev/v1alpha1/nodemigrations', 'nodemigrations.berth.dev').catch((err: unknown) => {
      if (asBerthError(err).kind === 'NotFound') return [];
      throw err;
    }),
  ]);
  const n = (nodes as Array<{ metadata?: { name?: string }; status?: { nodeInfo?: { containerRuntimeVersion?: string } } }>).map((x) => ({
    name: x.metadata?.name ?? '', runtime: x.status?.nodeInfo?.containerRuntimeVersion ?? '',
  }));
  if (node !== undefined && !n.some((x) => x.name === node)) throw invalid('NODE', `no node "${node}"`);
  const rows = nodeStatuses(n.filter((x) => node === undefined || x.name === node), berthNodes.map((b) => parseBerthNode(b)), migrations.map((m) => parseNodeMigration(m)));
  if (output === 'json') return `${JSON.stringify(node === undefined ? rows : rows[0], null, 2)}\n`;
  if (output === 'yaml') return stringify(node === undefined ? rows : rows[0]);
  return table(statusTable(rows), 10, 3);
}

export async function pluginMain(argv: readonly string[]): Promise<number> {
  try {
    const args = parseArgs(argv, FLAGS);
    if (flagBool(args, 'help') || args.positional.length === 0) {
      process.stdout.write(USAGE);
      return args.positional.length === 0 && !flagBool(args, 'help') ? 2 : 0;
    }
    if (flagBool(args, 'version')) {
      process.stdout.write(`kubectl-berth version ${VERSION}\n`);
      return 0;
    }
    const output = flagString(args, 'output') ?? 'table';
    if (!OUTPUTS.includes(output)) throw invalid('--output', `must be one of ${OUTPUTS.join(', ')}, got ${JSON.stringify(output)}`);
    const [command, ...rest] = args.positional;
    if (command !== 'status') throw invalid(command, 'unknown command (status; see --help)');
    if (rest.length > 1) throw invalid(rest[1], 'unexpected argument (see --help)');
    const kube = KubeClient.fromFileOrCluster(flagString(args, 'kubeconfig'), flagString(args, 'context'));
    process.stdout.write(await status(kube, rest[0], output));
    return 0;
  } catch (err) {
    const e = asBerthError(err);
    process.stderr.write(`kubectl-berth: ${e.message}\n`);
    return exitCodeOf(e.kind);
  }
}
