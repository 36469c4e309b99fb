/**
 * `--service-manager systemd` (src/agent/service/systemd.ts): the berthd.service unit written under the host
 * root and driven over real D-Bus — a real dbus-daemon with the systemd stand-in (test/helpers/systemd-standin.ts;
 * systemd is not PID 1 here, so nothing is executed: the stand-in keeps the unit's state). Proves the calls:
 * first install → Reload + RestartUnit; agent restart with nothing changed → StartUnit only; config or stack
 * change → Reload + RestartUnit; an agent killed between writing the unit and restarting → restart next time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeBerthdConfig } from '../../src/agent/install/config';
import { hostView, layoutOf, type Layout } from '../../src/agent/install/layout';
import { installStack, switchCurrent } from '../../src/agent/install/stack';
import { hostSystemdEndpoints, renderUnit, SystemdService, UNIT_NAME } from '../../src/agent/service/systemd';
import type { CgroupLayout } from '../../src/oci/cgroups';
import { startSystemdStandin, type SystemdStandin } from '../helpers/systemd-standin';
import { cleanupTempDirs, tempDir } from '../image/helpers';

let standin: SystemdStandin;
let layout: Layout;
let stack: string;

/** No scopes are made here: the stand-in needs no hierarchies. */
const NO_CGROUPS: CgroupLayout = { mode: 'v2', v1: [] };

beforeAll(async () => {
  standin = await startSystemdStandin(NO_CGROUPS);
  const work = tempDir('berth-agent-systemd-');
  stack = path.join(work, 'stack');
  fs.mkdirSync(path.join(stack, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(stack, 'bin', 'berthd'), '#!/bin/sh\n', { mode: 0o755 });
  fs.mkdirSync(path.join(work, 'host'));
  // The daemons run on the host proper under systemd: the unit names host paths.
  layout = layoutOf(hostView(path.join(work, 'host'), 'systemd'));
  installStack(layout, '1.0.0', stack);
  switchCurrent(layout, '1.0.0');
  writeBerthdConfig(layout, { cgroupDriver: 'systemd' });
});

afterAll(async () => {
  try {
    await standin?.stop();
  } finally {
    cleanupTempDirs();
  }
});

const service = () => new SystemdService({ layout, endpoints: [{ address: standin.address, kind: 'bus' }], jobTimeoutMs: 10_000 });
/** The Manager calls since the last look, without GetUnit (asked for berthd's MainPID after each job). */
const calls = () => standin.fake.calls.splice(0).filter((c) => c.member !== 'GetUnit').map((c) => `${c.member}${c.body.length ? `(${String(c.body[0])})` : ''}`);

test('the unit: host paths, KillMode=process and Delegate=yes, the config hash; the endpoints are the host\'s under its root', () => {
  const text = renderUnit({ binary: '/opt/berth/1.0.0/bin/berthd', configFile: '/etc/berth/config.yaml', configHash: 'abc' });
  expect(text).toContain('ExecStart=/opt/berth/1.0.0/bin/berthd --config /etc/berth/config.yaml\n');
  expect(text).toContain('\nKillMode=process\n');
  expect(text).toContain('\nDelegate=yes\n');
  expect(text).toContain('\nEnvironment=BERTH_CONFIG_SHA256=abc\n');
  expect(renderUnit({ binary: '/opt/my stack/berthd', configFile: '/c', configHash: 'x' })).toContain('ExecStart="/opt/my stack/berthd" --config /c\n');
  expect(hostSystemdEndpoints(layout).map((e) => e.address)).toEqual([layout.inAgent('/run/systemd/private'), layout.inAgent('/run/dbus/system_bus_socket')]);
});

test('first ensure writes and enables the unit, reloads systemd and (re)starts berthd; an unchanged second one only starts', async () => {
  calls();
  const r = await service().ensure();
  expect(r).toMatchObject({ action: 'restarted' });
  const unit = fs.readFileSync(path.join(layout.agent.systemdUnitDir, UNIT_NAME), 'utf8');
  expect(unit).toContain('ExecStart=/opt/berth/1.0.0/bin/berthd --config /etc/berth/config.yaml\n');
  expect(fs.readlinkSync(path.join(layout.agent.systemdUnitDir, 'multi-user.target.wants', UNIT_NAME))).toBe('/etc/systemd/system/berthd.service');
  expect(calls()).toEqual(['Reload', `RestartUnit(${UNIT_NAME})`]);
  expect(standin.fake.services.get(UNIT_NAME)).toMatchObject({ active: true, restarts: 1 });

  // An agent restart: the same unit, nothing restarted.
  expect(await service().ensure()).toMatchObject({ action: 'running', reason: 'unit unchanged' });
  expect(calls()).toEqual([`StartUnit(${UNIT_NAME})`]);
  expect(standin.fake.services.get(UNIT_NAME)).toMatchObject({ restarts: 1 });
});

test('a config change or a stack switch rewrites the unit and restarts berthd', async () => {
  calls();
  writeBerthdConfig(layout, { cgroupDriver: 'cgroupfs' });
  expect(await service().ensure()).toMatchObject({ action: 'restarted' });
  expect(calls()).toEqual(['Reload', `RestartUnit(${UNIT_NAME})`]);
  installStack(layout, '2.0.0', stack);
  switchCurrent(layout, '2.0.0');
  expect(await service().ensure()).toMatchObject({ action: 'restarted' });
  expect(calls()).toEqual(['Reload', `RestartUnit(${UNIT_NAME})`]);
  expect(fs.readFileSync(path.join(layout.agent.systemdUnitDir, UNIT_NAME), 'utf8')).toContain('/opt/berth/2.0.0/bin/berthd');
  expect(standin.fake.services.get(UNIT_NAME)).toMatchObject({ restarts: 3 });
});

test('an agent killed after writing the unit, before the restart: the next one restarts though the file is unchanged', async () => {
  calls();
  writeBerthdConfig(layout, { cgroupDriver: 'systemd' });
  // The first agent cannot reach systemd (as if killed before the call): the unit is written, not applied.
  const dead = new SystemdService({ layout, endpoints: [{ address: path.join(standin.dir, 'nothing'), kind: 'bus' }] });
  await expect(dead.ensure()).rejects.toThrow(/cannot reach systemd over D-Bus/);
  expect(await service().ensure()).toMatchObject({ action: 'restarted' });
  expect(calls()).toEqual(['Reload', `RestartUnit(${UNIT_NAME})`]);
  expect(await service().ensure()).toMatchObject({ action: 'running' });
});

test('stop() is StopUnit (with KillMode=process systemd signals berthd only)', async () => {
  calls();
  await service().stop();
  expect(calls()).toEqual([`StopUnit(${UNIT_NAME})`]);
  expect(standin.fake.services.get(UNIT_NAME)?.active).toBe(false);
});
