/**
 * kubectl-berth's command line (src/plugin/flags.ts) and its API error wording (kube-errors.ts): each command's
 * flags into its spec, every flag that does not apply named, RBAC refusals naming verb and resource.
 */
import { describe, expect, test } from '@jest/globals';
import { BerthError, exitCodeOf } from '../../src/common/errors';
import { parseCommand } from '../../src/plugin/flags';
import { apiCall, explainApiError } from '../../src/plugin/kube-errors';

const DEFAULTS = { targetRuntime: 'berth', drain: { timeoutSeconds: 300, deleteEmptyDirData: false, force: false }, prePullImages: false, rollbackPolicy: 'Automatic', force: false, dryRun: false, rollback: false };

describe('parseCommand', () => {
  test('migrate NODE: every flag into the spec; durations in seconds', () => {
    expect(parseCommand(['migrate', 'n1'])).toEqual({ kind: 'migrate', node: 'n1', watch: false, settings: DEFAULTS });
    const c = parseCommand(['migrate', 'n1', '--drain-timeout', '5m', '--verify-timeout', '2m', '--stop-old-runtime', '--grace-period=30s', '--delete-emptydir-data', '--force', '--pre-pull', '--rollback-policy', 'manual', '--watch', '--kubeconfig', '/k', '--context', 'x']);
    expect(c).toEqual({
      kind: 'migrate', node: 'n1', watch: true, kubeconfig: '/k', context: 'x',
      settings: { ...DEFAULTS, drain: { timeoutSeconds: 300, gracePeriodSeconds: 30, deleteEmptyDirData: true, force: false }, prePullImages: true, verifyTimeoutSeconds: 120, rollbackPolicy: 'Manual', stopOldRuntime: true, force: true },
    });
    expect(() => parseCommand(['migrate', 'n1', '--verify-timeout', '5s'])).toThrow(/--verify-timeout: must be from 10s to 24h/);
  });

  test('migrate --dry-run is doctor (a dry run, with -o and --timeout); doctor defaults to 120 s', () => {
    expect(parseCommand(['migrate', 'n1', '--dry-run', '-o', 'json', '--timeout', '1m', '--force'])).toMatchObject({ kind: 'doctor', node: 'n1', output: 'json', timeoutSeconds: 60, settings: { dryRun: true, force: true } });
    expect(parseCommand(['doctor', 'n1'])).toMatchObject({ kind: 'doctor', node: 'n1', output: 'table', timeoutSeconds: 120, settings: { dryRun: true } });
  });

  test('migrate --selector: a pool, --max-unavailable default 1', () => {
    expect(parseCommand(['migrate', '-l', 'pool=a', '--pre-pull'])).toEqual({ kind: 'pool', selector: 'pool=a', maxUnavailable: 1, settings: { ...DEFAULTS, prePullImages: true } });
    expect(parseCommand(['migrate', '--selector', 'pool=a', '--max-unavailable', '3'])).toMatchObject({ kind: 'pool', maxUnavailable: 3 });
  });

  test('rollback, status, help, version, nothing', () => {
    expect(parseCommand(['rollback', 'n1', '-w'])).toEqual({ kind: 'rollback', node: 'n1', watch: true });
    expect(parseCommand(['status'])).toEqual({ kind: 'status', output: 'table' });
    expect(parseCommand(['status', 'n1', '-o', 'yaml'])).toEqual({ kind: 'status', node: 'n1', output: 'yaml' });
    expect(parseCommand(['--help']).kind).toBe('help');
    expect(parseCommand(['-v']).kind).toBe('version');
    expect(parseCommand([]).kind).toBe('usage');
  });

  test.each([
    [['rollback', 'n1', '--force'], '--force: does not apply to kubectl berth rollback'],
    [['status', '--watch'], '--watch: does not apply to kubectl berth status'],
    [['doctor', 'n1', '--drain-timeout', '5m'], '--drain-timeout: does not apply to kubectl berth doctor'],
    [['doctor', 'n1', '--watch'], '--watch: does not apply to kubectl berth doctor'],
    [['rollback', 'n1', '-o', 'json'], '--output: does not apply to kubectl berth rollback'],
    [['migrate', 'n1', '-o', 'json'], '--output: applies to kubectl berth migrate only with --dry-run'],
    [['migrate', 'n1', '--timeout', '5s'], '--timeout: applies to kubectl berth migrate only with --dry-run'],
    [['migrate', 'n1', '--max-unavailable', '2'], '--max-unavailable: applies only with --selector'],
    [['migrate', 'n1', '--dry-run', '--watch'], '--watch: does not apply with --dry-run'],
    [['migrate', '-l', 'a=b', '--dry-run'], '--dry-run: does not apply with --selector'],
    [['migrate', 'n1', '-l', 'a=b'], 'n1: a node name and --selector do not go together'],
    [['migrate', '-l', 'a=b', '--max-unavailable', '0'], '--max-unavailable: must be a whole number of at least 1, got "0"'],
    [['migrate', '-l', 'a=b', '--max-unavailable', '1.5'], '--max-unavailable: must be a whole number'],
    [['migrate', 'n1', '--drain-timeout', 'soon'], '--drain-timeout: "soon" is not a duration'],
    [['migrate', 'n1', '--drain-timeout', '0'], '--drain-timeout: must be from 1s to 24h'],
    [['migrate', 'n1', '--grace-period', '5q'], '--grace-period: "5q" is not a duration'],
    [['migrate', 'n1', '--rollback-policy', 'sometimes'], '--rollback-policy: must be automatic or manual'],
    [['doctor', 'n1', '--timeout', 'x'], '--timeout: "x" is not a duration'],
    [['doctor', 'n1', '-o', 'wide'], '--output: must be one of table, json, yaml'],
    [['doctor'], 'NODE: kubectl berth doctor needs a node name'],
    [['migrate'], 'NODE: kubectl berth migrate needs a node name'],
    [['rollback', 'a', 'b'], 'b: unexpected argument'],
    [['upgrade', 'n1'], 'upgrade: unknown command'],
    [['migrate', 'n1', '--nope'], '--nope: unknown flag'],
  ])('%j → %s', (argv, message) => {
    let err: unknown;
    try {
      parseCommand(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).kind).toBe('InvalidArgument');
    expect((err as BerthError).message.startsWith(message)).toBe(true);
  });
});

describe('API errors', () => {
  const forbidden = new BerthError('PermissionDenied', 'POST /apis/berth.dev/v1alpha1/nodemigrations: nodemigrations.berth.dev is forbidden: User "alice" cannot create resource "nodemigrations" in API group "berth.dev" at the cluster scope');

  test('a refusal names the verb and the resource and keeps its kind (so its exit code)', async () => {
    const e = explainApiError('create', 'nodemigrations.berth.dev', forbidden);
    expect(e.message).toBe('cannot create nodemigrations.berth.dev (forbidden: User "alice" cannot create resource "nodemigrations" in API group "berth.dev" at the cluster scope)');
    expect(e.kind).toBe('PermissionDenied');
    expect(exitCodeOf(e.kind)).toBe(exitCodeOf('PermissionDenied'));
    await expect(apiCall('list', 'nodes', () => Promise.reject(forbidden))).rejects.toMatchObject({ kind: 'PermissionDenied', message: expect.stringMatching(/^cannot list nodes \(forbidden: /) });
  });

  test('other errors pass through unchanged', async () => {
    const nf = new BerthError('NotFound', 'GET /x: not found');
    expect(explainApiError('get', 'nodes', nf)).toBe(nf);
    await expect(apiCall('get', 'nodes', () => Promise.resolve(5))).resolves.toBe(5);
  });
});
