/**
 * Calling plugins (src/cni/pkg/invoke.ts): our plugin in-process and the same plugin exec'd from CNI_PATH give
 * identical outcomes; reference plugins are exec'd; their errors come back with their own code; a plugin
 * missing from CNI_PATH is the spec's code 7, naming the type.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { hostLocal } from '../../src/cni/host-local/plugin';
import { CniError } from '../../src/cni/pkg/errors';
import { findPlugin, invokePlugin, resultOf, type PluginRegistry } from '../../src/cni/pkg/invoke';
import { bundlePlugin, cleanupTempDirs, cniEnv, hostLocalConf, requireCni, snapshotDir, tempDir, REFERENCE_DIR } from './helpers';

const registry: PluginRegistry = { 'berth-host-local': hostLocal };
let binDir: string;

beforeAll(async () => {
  requireCni('host-local');
  // A CNI_PATH directory holding our plugin as an executable named by its type, as hack/build.js will install it.
  binDir = tempDir('berth-cni-path-');
  const bundle = await bundlePlugin('berth-host-local', binDir);
  fs.writeFileSync(path.join(binDir, 'berth-host-local'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(bundle)} "$@"\n`, { mode: 0o755 });
});
afterAll(cleanupTempDirs);

const conf = (dataDir: string, extra: Record<string, unknown> = {}) => JSON.stringify(hostLocalConf(dataDir, { ranges: [[{ subnet: '10.70.0.0/24' }], [{ subnet: 'fd70::/64' }]] }, extra));

describe('in-process and exec through CNI_PATH', () => {
  test('identical outcomes for ADD, CHECK, DEL and errors', async () => {
    const [dirA, dirB] = [tempDir(), tempDir()];
    const cniPath = `/nonexistent:${binDir}`;
    const script: Array<[string, string]> = [['ADD', 'i1'], ['ADD', 'i2'], ['ADD', 'i1'], ['CHECK', 'i1'], ['DEL', 'i1'], ['DEL', 'i1'], ['CHECK', 'i1'], ['ADD', 'i3']];
    for (const [command, id] of script) {
      const env = cniEnv({ command, containerId: id, path: cniPath });
      const viaExec = await invokePlugin('berth-host-local', { env, stdin: conf(dirA) }, {});
      const inProcess = await invokePlugin('berth-host-local', { env, stdin: conf(dirB) }, registry);
      expect({ ...inProcess, stderr: '' }).toEqual({ ...viaExec, stderr: '' });
    }
    expect(snapshotDir(dirB)).toEqual(snapshotDir(dirA));
  });

  test('resultOf reads the result; errors keep the plugin code', async () => {
    const dataDir = tempDir();
    const env = cniEnv({ command: 'ADD', containerId: 'r1', path: binDir });
    const r = resultOf(await invokePlugin('berth-host-local', { env, stdin: conf(dataDir, { cniVersion: '0.4.0' }) }, registry));
    expect(r).toEqual({ cniVersion: '0.4.0', ips: [{ address: '10.70.0.2/24', gateway: '10.70.0.1' }, { address: 'fd70::2/64', gateway: 'fd70::1' }], dns: {} });
    const again = await invokePlugin('berth-host-local', { env, stdin: conf(dataDir) }, {});
    expect(() => resultOf(again)).toThrow(CniError);
    expect(() => resultOf(again)).toThrow(/duplicate allocation/);
    const bad = await invokePlugin('berth-host-local', { env, stdin: '{' }, {});
    try {
      resultOf(bad);
      throw new Error('no error');
    } catch (err) {
      expect(err).toMatchObject({ code: 6, kind: 'InvalidArgument' });
    }
  });
});

describe('reference plugins', () => {
  test('are exec\'d from CNI_PATH; their results and errors come back', async () => {
    const dataDir = tempDir();
    const env = cniEnv({ command: 'ADD', containerId: 'ref1', path: `${binDir}:${REFERENCE_DIR}` });
    const r = resultOf(await invokePlugin('host-local', { env, stdin: conf(dataDir) }, registry));
    expect(r.ips?.map((i) => i.address)).toEqual(['10.70.0.2/24', 'fd70::2/64']);
    const full = JSON.stringify(hostLocalConf(dataDir, { ranges: [[{ subnet: '10.71.0.0/30' }]] }));
    resultOf(await invokePlugin('host-local', { env: cniEnv({ command: 'ADD', containerId: 'ref2', path: REFERENCE_DIR }), stdin: full }));
    const out = await invokePlugin('host-local', { env: cniEnv({ command: 'ADD', containerId: 'ref3', path: REFERENCE_DIR }), stdin: full });
    let caught: unknown;
    try {
      resultOf(out, 'host-local');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CniError);
    expect(caught).toMatchObject({ code: 999, kind: 'Internal', message: expect.stringMatching(/no IP addresses available in range set: 10\.71\.0\.1-10\.71\.0\.2/) });
  });

  test('a plugin missing from CNI_PATH → code 7 naming the type', async () => {
    const env = cniEnv({ command: 'ADD', containerId: 'm1', path: `${binDir}:${REFERENCE_DIR}` });
    await expect(invokePlugin('no-such-plugin', { env, stdin: conf(tempDir()) })).rejects.toMatchObject({ code: 7, field: 'type', message: expect.stringMatching(/failed to find plugin "no-such-plugin" in path/) });
    await expect(invokePlugin('../host-local', { env, stdin: '{}' })).rejects.toMatchObject({ code: 7 });
    expect(() => findPlugin('host-local', [])).toThrow(/CNI_PATH is empty/);
    expect(findPlugin('host-local', ['/nonexistent', REFERENCE_DIR])).toBe(path.join(REFERENCE_DIR, 'host-local'));
  });
});
