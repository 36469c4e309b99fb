/**
 * The switch's edit of kubelet's files (src/agent/migrate/endpoint-rewrite.ts) and its way back
 * (src/agent/migrate/backup.ts), on temp host roots laid out as kubeadm lays out a node: every place that sets
 * the endpoint is rewritten in its own form and nothing else in the file changes; backups are recorded before
 * a file is touched; a second try after a crash keeps the first (original) copy; a rollback puts every file
 * back byte for byte, mode included, and removes what the migration created.
 */
import { afterAll, beforeEach, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import type { MigrationBackup } from '../../src/agent/api/migration-types';
import { applyEdits, backupCopyOf, restoreBackups } from '../../src/agent/migrate/backup';
import { readKubeletEndpoint, readKubeletEndpointSources } from '../../src/agent/migrate/endpoint-read';
import { endpointEdits, rewriteField, rewriteFlag } from '../../src/agent/migrate/endpoint-rewrite';
import { hostExec, type HostExec } from '../../src/agent/node/host-exec';
import { BerthError } from '../../src/common/errors';
import { cleanupTempDirs, tempDir } from '../helpers/oci';
import { KUBEADM_DROPIN, KUBEADM_FLAGS, KUBELET_CONFIG } from './kubelet-fixtures';

const DOCKER = 'unix:///var/run/cri-dockerd.sock';
const BERTHD = 'unix:///run/berth/berthd.sock';
let host: HostExec;

beforeEach(() => {
  host = hostExec(tempDir('berth-migrate-rewrite-'), 'same-namespace');
});
afterAll(() => cleanupTempDirs());

function write(hostPath: string, text: string, mode = 0o644): void {
  const f = host.inAgent(hostPath);
  fs.mkdirSync(f.slice(0, f.lastIndexOf('/')), { recursive: true });
  fs.writeFileSync(f, text, { mode });
  fs.chmodSync(f, mode);
}
/** The host root's own (empty) /proc: no running kubelet of this machine's is taken for the node's. */
const noKubelet = () => ({ procRoot: host.inAgent('/proc') });
const read = (hostPath: string): string => fs.readFileSync(host.inAgent(hostPath), 'utf8');

/** A kubeadm node (pre-NodeLocalCRISocket) on cri-dockerd, plus an admin's override in /etc/default/kubelet. */
function kubeadmNode(): Map<string, string> {
  const files = new Map([
    ['/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf', KUBEADM_DROPIN],
    ['/var/lib/kubelet/kubeadm-flags.env', KUBEADM_FLAGS(DOCKER)],
    ['/etc/default/kubelet', `KUBELET_EXTRA_ARGS='--container-runtime-endpoint=${DOCKER}' --v=2\n`],
    ['/var/lib/kubelet/config.yaml', KUBELET_CONFIG(DOCKER)],
  ]);
  for (const [f, t] of files) write(f, t, f.endsWith('.env') ? 0o600 : 0o644);
  return files;
}

function editsFor(endpoint: string) {
  const src = readKubeletEndpointSources(host, noKubelet());
  const texts = new Map([...src.flagFiles, ...(src.config ? [src.config] : [])].map((f) => [f.file, f.text]));
  return endpointEdits(readKubeletEndpoint(host, noKubelet()), texts, endpoint, src.config?.file);
}

describe('rewriting in place', () => {
  test('a flag keeps its spelling and quotes; other flags stay', () => {
    expect(rewriteFlag(`KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=${DOCKER} --pod-infra-container-image=pause"\n`, BERTHD))
      .toBe(`KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=${BERTHD} --pod-infra-container-image=pause"\n`);
    expect(rewriteFlag(`ExecStart=/usr/bin/kubelet --container-runtime-endpoint '${DOCKER}' --v=2`, BERTHD)).toBe(`ExecStart=/usr/bin/kubelet --container-runtime-endpoint '${BERTHD}' --v=2`);
  });

  test('a field keeps its comment and the rest of the file; a file without it gets it appended', () => {
    expect(rewriteField(`kind: KubeletConfiguration\ncontainerRuntimeEndpoint: "${DOCKER}"  # set by kubeadm\nmaxPods: 110\n`, BERTHD))
      .toBe(`kind: KubeletConfiguration\ncontainerRuntimeEndpoint: ${BERTHD}  # set by kubeadm\nmaxPods: 110\n`);
    expect(rewriteField('kind: KubeletConfiguration\nmaxPods: 110', BERTHD)).toBe(`kind: KubeletConfiguration\nmaxPods: 110\ncontainerRuntimeEndpoint: ${BERTHD}\n`);
    // An indented key belongs to another mapping: not kubelet's endpoint.
    expect(rewriteField(`nested:\n  containerRuntimeEndpoint: x\n`, BERTHD)).toBe(`nested:\n  containerRuntimeEndpoint: x\ncontainerRuntimeEndpoint: ${BERTHD}\n`);
  });

  test('every place that sets the endpoint is edited, and kubelet then reads berthd\'s', () => {
    const before = kubeadmNode();
    const edits = editsFor(BERTHD);
    expect(edits.map((e) => e.file).sort()).toEqual(['/etc/default/kubelet', '/var/lib/kubelet/config.yaml', '/var/lib/kubelet/kubeadm-flags.env']);
    for (const e of edits) expect(e.before).toBe(before.get(e.file));
    for (const e of edits) write(e.file, e.after);
    const after = readKubeletEndpoint(host, noKubelet());
    expect(after.endpoint).toBe(BERTHD);
    expect(after.settings.every((s) => s.value === BERTHD)).toBe(true);
    expect(read('/etc/default/kubelet')).toBe(`KUBELET_EXTRA_ARGS='--container-runtime-endpoint=${BERTHD}' --v=2\n`);
  });

  test('nothing sets it (kubelet\'s containerd default): the config file gets the field; no config file is refused by name', () => {
    write('/var/lib/kubelet/config.yaml', KUBELET_CONFIG());
    const edits = editsFor(BERTHD);
    expect(edits.map((e) => [e.file, e.after.endsWith(`containerRuntimeEndpoint: ${BERTHD}\n`)])).toEqual([['/var/lib/kubelet/config.yaml', true]]);
    host = hostExec(tempDir('berth-migrate-rewrite-'), 'same-namespace');
    const err = (() => { try { editsFor(BERTHD); } catch (e) { return e; } return undefined; })();
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).field).toBe('containerRuntimeEndpoint');
  });

  test('a file that does not parse is not rewritten: the error names it', () => {
    kubeadmNode();
    write('/var/lib/kubelet/config.yaml', 'kind: [unclosed\n');
    expect(() => editsFor(BERTHD)).toThrow(/config\.yaml/);
  });
});

describe('backups and rollback', () => {
  test('recorded before the change, never twice; rollback restores bytes and modes and removes created files', async () => {
    const before = kubeadmNode();
    const dir = host.inAgent('/var/lib/berth/migration/backups');
    const edits = editsFor(BERTHD);
    const recorded: MigrationBackup[] = [];
    const seenAtRecord: string[] = [];
    await applyEdits(host, dir, edits, recorded, async (b) => {
      // When a backup is recorded, its file is still the original and the copy is in place.
      seenAtRecord.push(read(b.path) === before.get(b.path) && fs.existsSync(backupCopyOf(dir, b.path)) ? 'original' : 'changed');
      recorded.push(b);
    });
    expect(seenAtRecord).toEqual(edits.map(() => 'original'));
    expect(recorded.every((b) => typeof b.sha256 === 'string' && b.sha256.length === 64)).toBe(true);
    expect(fs.statSync(host.inAgent('/var/lib/kubelet/kubeadm-flags.env')).mode & 0o777).toBe(0o600);

    // A second try finds everything recorded and done: nothing is recorded twice.
    await applyEdits(host, dir, edits, recorded, async () => { throw new Error('recorded twice'); });
    // A file the migration creates, recorded without a hash.
    write('/etc/berth/migrated', 'x');
    recorded.push({ path: '/etc/berth/migrated', what: 'marker' });

    restoreBackups(host, dir, recorded);
    for (const [f, text] of before) expect([f, read(f)]).toEqual([f, text]);
    expect(fs.statSync(host.inAgent('/var/lib/kubelet/kubeadm-flags.env')).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(host.inAgent('/etc/berth/migrated'))).toBe(false);
    expect(readKubeletEndpoint(host, noKubelet()).endpoint).toBe(DOCKER);
  });

  test('killed between recording a backup and writing its file, then retried: the copies are still the originals', async () => {
    const before = kubeadmNode();
    const dir = host.inAgent('/var/lib/berth/migration/backups');
    const edits = editsFor(BERTHD);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    const recorded: MigrationBackup[] = [];
    // The "crash": the second record never returns, so the second file is backed up but not written.
    await expect(applyEdits(host, dir, edits, recorded, async (b) => {
      recorded.push(b);
      if (recorded.length === 2) throw new Error('killed');
    })).rejects.toThrow('killed');
    expect(read(edits[0].file)).toBe(edits[0].after);
    expect(read(edits[1].file)).toBe(before.get(edits[1].file));
    // The next agent plans from the files as they are now (the first one rewritten) and the status's backups.
    await applyEdits(host, dir, editsFor(BERTHD), recorded, async (b) => { recorded.push(b); });
    expect(recorded.map((b) => b.path).sort()).toEqual(edits.map((e) => e.file).sort());
    for (const b of recorded) expect(fs.readFileSync(backupCopyOf(dir, b.path), 'utf8')).toBe(before.get(b.path));
    restoreBackups(host, dir, recorded);
    for (const [f, text] of before) expect([f, read(f)]).toEqual([f, text]);
  });

  test('a backup copy that was changed or lost is refused, naming the file', async () => {
    kubeadmNode();
    const dir = host.inAgent('/var/lib/berth/migration/backups');
    const recorded: MigrationBackup[] = [];
    await applyEdits(host, dir, editsFor(BERTHD), recorded, async (b) => { recorded.push(b); });
    const victim = recorded[0];
    fs.writeFileSync(backupCopyOf(dir, victim.path), 'tampered');
    expect(() => restoreBackups(host, dir, recorded)).toThrow(victim.path);
    fs.rmSync(backupCopyOf(dir, victim.path));
    expect(() => restoreBackups(host, dir, recorded)).toThrow(/is gone/);
  });
});
