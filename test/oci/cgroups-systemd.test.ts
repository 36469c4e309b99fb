/**
 * The systemd cgroup driver (src/oci/cgroups/systemd/).
 *
 * systemd cannot run on this machine (it is not PID 1), so the end-to-end tests talk to the STAND-IN of
 * test/helpers/systemd-standin.ts: a real dbus-daemon on a private socket and a small service owning
 * org.freedesktop.systemd1 that does what systemd would do on this host. Everything the driver sends crosses
 * the real daemon, which validates every message against its signature, so marshalling bugs that would cancel
 * out between our encoder and decoder are still caught; the byte-level tests below are derived by hand from
 * the D-Bus specification.
 *
 * Missing dbus-daemon is a failure, not a skip (hack/deps installs it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../src/common/errors';
import { type Cgroup, DEFAULT_ALLOWED_DEVICES, hostLayout, loadCgroup, resolveCgroup, SystemdCgroup, UNIFIED, unifiedOnly } from '../../src/oci/cgroups';
import { Connection, DBusError, socketPathOf } from '../../src/common/dbus/connection';
import { defaultEndpoints, SYSTEMD_NAME, systemBusAddress, systemdPaths, unitFromPaths } from '../../src/oci/cgroups/systemd/driver';
import { type DBusValue, marshal, parseSignature, unmarshal, Variant } from '../../src/common/dbus/marshal';
import { decodeMessage, encodeMessage, type Message, MessageType, messageLength } from '../../src/common/dbus/message';
import { baseProperties, deviceProperties, expandSlice, parseProcDevices, parseSystemdPath, rangeToBits, resourceProperties } from '../../src/oci/cgroups/systemd/properties';
import { normalizeDeviceRules } from '../../src/oci/cgroups/devices';
import { cgroupV2, testIf } from '../helpers/host';
import { type FakeSystemd, privateSocket, procCgroup, readProcs, startSystemdStandin, type SystemdStandin } from '../helpers/systemd-standin';

const hex = (b: Buffer): string => b.toString('hex');
/** "01 00 0a" → Buffer; spaces, newlines and |-separators are ignored. */
const bytes = (s: string): Buffer => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const MAX64 = (1n << 64n) - 1n;

function expectBerth(err: unknown, kind: string): BerthError {
  expect(err).toBeInstanceOf(BerthError);
  expect((err as BerthError).kind).toBe(kind);
  return err as BerthError;
}

// ---------------------------------------------------------------------------------------------------------
// Marshalling, byte by byte (D-Bus specification, "Marshaling (Wire Format)"; little-endian)
// ---------------------------------------------------------------------------------------------------------

describe('D-Bus marshalling against hand-derived bytes', () => {
  const cases: [string, string, DBusValue[], string][] = [
    ['byte then uint32: 3 bytes of padding to 4', 'yu', [1, 0x01020304], '01 000000 | 04030201'],
    ['int16 / uint16 align to 2', 'yqn', [1, 0xffff, -2], '01 00 | ffff | feff'],
    ['bool is a 4-byte 0/1', 'yb', [9, true], '09 000000 | 01000000'],
    ['int32 negative', 'i', [-1], 'ffffffff'],
    ['int64 after a byte pads to 8', 'yx', [1, -2n], '01 00000000000000 | feffffffffffffff'],
    ['uint64 max', 't', [MAX64], 'ffffffffffffffff'],
    ['double 1.0', 'd', [1], '000000000000f03f'],
    ['string: uint32 length, bytes, NUL', 's', ['ab'], `02000000 ${ascii('ab')} 00`],
    ['string after a byte: length aligned to 4', 'ys', [7, 'ab'], `07 000000 | 02000000 ${ascii('ab')} 00`],
    ['empty string', 's', [''], '00000000 00'],
    ['object path', 'o', ['/org/x'], `06000000 ${ascii('/org/x')} 00`],
    ['signature: byte length, no alignment', 'yg', [1, 'a(sv)'], `01 | 05 ${ascii('a(sv)')} 00`],
    ['au: length counts bytes', 'au', [[1234, 1]], '08000000 | d2040000 | 01000000'],
    ['ay from a Buffer', 'ay', [Buffer.from([0x0f, 0x01])], '02000000 | 0f01'],
    // The padding between an array's length and its first 8-aligned element is not part of the length, and is
    // there even when the array is empty.
    ['at: padding after the length is not counted', 'at', [[5n]], '08000000 | 00000000 | 0500000000000000'],
    ['empty at still pads to the element alignment', 'at', [[]], '00000000 | 00000000'],
    ['struct aligns to 8', 'y(y)', [1, [2]], '01 00000000000000 | 02'],
    // a(sv) with Delegate=true: len@0, pad 4..7, struct@8: "Delegate" len@8, bytes 12..19, NUL@20,
    // variant signature "b" @21..23, bool aligned @24..27 → array length 28-8 = 20.
    ['a(sv) property', 'a(sv)', [[['Delegate', new Variant('b', true)]]], `14000000 | 00000000 | 08000000 ${ascii('Delegate')} 00 | 01 62 00 | 01000000`],
    // a{sv}: entry@8: "a" len@8, 'a' NUL @12..13, variant sig "u" @14..16, pad @17..19, uint32 @20..23 → 16.
    ['a{sv} dict entry aligns to 8', 'a{sv}', [[['a', new Variant('u', 1)]]], `10000000 | 00000000 | 01000000 61 00 | 01 75 00 | 000000 | 01000000`],
    // variant holding au: signature "au"@0..3, array length@4, element@8.
    ['variant containing an array', 'v', [new Variant('au', [7])], `02 ${ascii('au')} 00 | 04000000 | 07000000`],
    // Two properties: the second struct starts 8-aligned.
    [
      'a(sv) with two entries',
      'a(sv)',
      [[['A', new Variant('y', 5)], ['B', new Variant('t', 1n)]]],
      // @8 "A": 01000000 41 00 (8..13); sig "y" 01 79 00 (14..16); byte 05 (17); pad to 24;
      // @24 "B": 01000000 42 00 (24..29); sig "t" 01 74 00 (30..32); pad to 40; uint64 (40..47) → len 40.
      `28000000 | 00000000 | 01000000 41 00 | 01 79 00 | 05 | 000000000000 | 01000000 42 00 | 01 74 00 | 00000000000000 | 0100000000000000`,
    ],
  ];

  test.each(cases)('%s', (_title, sig, values, expected) => {
    const b = marshal(sig, values);
    expect(hex(b)).toBe(hex(bytes(expected)));
    // And back again.
    expect(unmarshal(sig, b)).toEqual(values.map((v) => (Array.isArray(v) && sig === 'ay' ? Buffer.from(v as number[]) : v)));
  });

  test('StartTransientUnit body (ssa(sv)a(sa(sv))) with the empty aux array', () => {
    const b = marshal('ssa(sv)a(sa(sv))', ['x.scope', 'replace', [['PIDs', new Variant('au', [42])]], []]);
    // "x.scope": 07000000 + 7 bytes + NUL = 0..11; "replace": len@12, bytes 16..22, NUL 23;
    // a(sv): len@24, pad 28..31, struct@32: "PIDs" len@32, 36..39, NUL 40; sig "au" 41..44; pad 45..47;
    // array len@48 = 4, element@52..55 → a(sv) length 56-32 = 24;
    // a(sa(sv)) empty: len@56 = 0, pad 60..63 to the struct alignment → 64 bytes.
    expect(hex(b)).toBe(
      hex(
        bytes(`07000000 ${ascii('x.scope')} 00 | 07000000 ${ascii('replace')} 00 | 18000000 | 00000000 | 04000000 ${ascii('PIDs')} 00 | 02 ${ascii('au')} 00 | 000000 | 04000000 | 2a000000 | 00000000 | 00000000`),
      ),
    );
  });

  test('a whole Hello method call, header fields and padding included', () => {
    const m = encodeMessage({ type: MessageType.MethodCall, serial: 1, path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello', destination: 'org.freedesktop.DBus' });
    // Fixed part: 'l', METHOD_CALL, flags 0, version 1, body length 0, serial 1, field array length @12.
    // Fields from @16 (8-aligned): PATH (1,'o') 16..45, INTERFACE (2,'s') 48..76, MEMBER (3,'s') 80..93,
    // DESTINATION (6,'s') 96..124 → array length 125-16 = 109 = 0x6d; header padded to 128; no body.
    const expected = bytes(
      `6c 01 00 01 | 00000000 | 01000000 | 6d000000 |` +
        `01 01 6f 00 | 15000000 ${ascii('/org/freedesktop/DBus')} 00 | 0000 |` +
        `02 01 73 00 | 14000000 ${ascii('org.freedesktop.DBus')} 00 | 000000 |` +
        `03 01 73 00 | 05000000 ${ascii('Hello')} 00 | 0000 |` +
        `06 01 73 00 | 14000000 ${ascii('org.freedesktop.DBus')} 00 | 000000`,
    );
    expect(m.length).toBe(128);
    expect(hex(m)).toBe(hex(expected));
    expect(messageLength(m)).toBe(128);
    expect(decodeMessage(m)).toMatchObject({ type: MessageType.MethodCall, serial: 1, member: 'Hello', path: '/org/freedesktop/DBus', body: [] });
  });

  test('a big-endian message (as another peer may send) decodes', () => {
    // Method return, serial 2, REPLY_SERIAL 1 (5,'u'), SIGNATURE "u" (8,'g'), body uint32 7.
    // Fields @16: 05 01 75 00 | 00000001 (16..23); @24: 08 01 67 00 | 01 75 00 (24..30) → length 15; pad to 32.
    const b = bytes('42 02 01 01 | 00000004 | 00000002 | 0000000f | 05 01 75 00 00000001 | 08 01 67 00 01 75 00 00 | 00000007');
    expect(messageLength(b)).toBe(36);
    expect(decodeMessage(b)).toMatchObject({ type: MessageType.MethodReturn, serial: 2, replySerial: 1, signature: 'u', body: [7] });
  });

  test('bad input is refused with a clear error', () => {
    expect(() => marshal('u', [-1])).toThrow(/argument 0: expected an integer in \[0, 4294967295\]/);
    expect(() => marshal('o', ['not/a/path'])).toThrow(/valid object path/);
    expect(() => marshal('a{vs}', [[]])).toThrow(/dict key must be a basic type/);
    expect(() => marshal('(', [[]])).toThrow(/unclosed struct|truncated/);
    expect(() => parseSignature('h')).toThrow(/unknown type code/);
    expect(() => new Variant('ss', 'x')).toThrow(/exactly one complete type/);
    expect(() => unmarshal('b', bytes('02000000'))).toThrow(/boolean value 2/);
    expect(() => unmarshal('s', bytes('02000000 6162 01'))).toThrow(/NUL/);
    expect(() => unmarshal('yu', bytes('01 ff0000 01000000'))).toThrow(/padding/);
    expect(() => unmarshal('u', bytes('0100'))).toThrow(/truncated/);
  });

  test('bus addresses', () => {
    expect(socketPathOf('/run/dbus/system_bus_socket')).toBe('/run/dbus/system_bus_socket');
    expect(socketPathOf('unix:path=/tmp/a%20b,guid=00')).toBe('/tmp/a b');
    expect(() => socketPathOf('tcp:host=x,port=1')).toThrow(/unix:path/);
    // The system bus endpoint follows $DBUS_SYSTEM_BUS_ADDRESS, as libdbus and godbus (runc) do.
    expect(systemBusAddress({})).toBe('/run/dbus/system_bus_socket');
    expect(defaultEndpoints({ DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/x/bus' })).toEqual([
      { address: '/run/systemd/private', kind: 'peer' },
      { address: 'unix:path=/x/bus', kind: 'bus' },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// runc's naming and property mapping (pure)
// ---------------------------------------------------------------------------------------------------------

describe('systemd naming and properties (runc semantics)', () => {
  test('slice:prefix:name', () => {
    expect(parseSystemdPath('system.slice:docker:abc', 'id')).toEqual({ slice: 'system.slice', unit: 'docker-abc.scope' });
    expect(parseSystemdPath(':cri-containerd:abc', 'id')).toEqual({ slice: 'system.slice', unit: 'cri-containerd-abc.scope' });
    expect(parseSystemdPath('kubepods-burstable.slice::abc', 'id')).toEqual({ slice: 'kubepods-burstable.slice', unit: 'abc.scope' });
    expect(parseSystemdPath(undefined, 'ctr1')).toEqual({ slice: 'system.slice', unit: 'berth-ctr1.scope' });
    for (const bad of ['/a/b', 'a:b', 'a:b:c:d', 'notaslice:p:n', 'system.slice:p:', 'system.slice:p:x.slice', 'system.slice:p:a/b', 'a--b.slice:p:n']) {
      let err: unknown;
      try {
        parseSystemdPath(bad, 'id');
      } catch (e) {
        err = e;
      }
      expect(expectBerth(err, 'InvalidArgument').field).toBe('linux.cgroupsPath');
    }
  });

  test('slice expansion', () => {
    expect(expandSlice('system.slice')).toBe('/system.slice');
    expect(expandSlice('a-b-c.slice')).toBe('/a.slice/a-b.slice/a-b-c.slice');
    expect(expandSlice('-.slice')).toBe('/');
    expect(() => expandSlice('-a.slice')).toThrow(/invalid slice/);
    expect(() => expandSlice('.slice')).toThrow(/invalid slice/);
  });

  test('scope directories in every hierarchy, and back', () => {
    const layout = hostLayout();
    const paths = systemdPaths(layout, { slice: 'a-b.slice', unit: 'p-n.scope' });
    for (const dir of Object.values(paths)) expect(dir).toMatch(/\/a\.slice\/a-b\.slice\/p-n\.scope$/);
    if (layout.unified) expect(paths[UNIFIED]).toBe(path.join(layout.unified.mountPoint, 'a.slice/a-b.slice/p-n.scope'));
    expect(unitFromPaths(paths)).toEqual({ slice: 'a-b.slice', unit: 'p-n.scope' });
    expect(() => unitFromPaths({ memory: '/sys/fs/cgroup/memory/x/y' })).toThrow(/not one systemd scope/);
  });

  test('cpuset lists to the AllowedCPUs bitmask (least significant byte first)', () => {
    expect(hex(rangeToBits('0', 'f'))).toBe('01');
    expect(hex(rangeToBits('0-3,8', 'f'))).toBe('0f01');
    expect(hex(rangeToBits(' 1 , 9-10,', 'f'))).toBe('0206');
    expect(hex(rangeToBits('63', 'f'))).toBe('0000000000000080');
    expect(() => rangeToBits('3-1', 'f')).toThrow(/invalid range/);
    expect(() => rangeToBits(',', 'f')).toThrow(/empty/);
  });

  const v = (sig: string, value: DBusValue): Variant => new Variant(sig, value);

  test('base properties: v1/hybrid uses BlockIOAccounting, v2 IOAccounting', () => {
    const ref = { slice: 's.slice', unit: 'p-n.scope' };
    expect(baseProperties(ref, 'n', 42, true)).toEqual([
      ['Description', v('s', 'berth container n')],
      ['Slice', v('s', 's.slice')],
      ['Delegate', v('b', true)],
      ['PIDs', v('au', [42])],
      ['MemoryAccounting', v('b', true)],
      ['CPUAccounting', v('b', true)],
      ['BlockIOAccounting', v('b', true)],
      ['TasksAccounting', v('b', true)],
      ['DefaultDependencies', v('b', false)],
    ]);
    expect(baseProperties(ref, 'n', 42, false).map((p) => p[0])).toContain('IOAccounting');
  });

  test('v1 resource properties', () => {
    const r = { memory: { limit: 64 << 20 }, cpu: { shares: 512, quota: 25_000, period: 50_000, cpus: '0-1', mems: '0' }, pids: { limit: 10 }, blockIO: { weight: 300 } };
    expect(resourceProperties(r, true, 252)).toEqual([
      ['MemoryLimit', v('t', BigInt(64 << 20))],
      ['CPUShares', v('t', 512n)],
      ['CPUQuotaPeriodUSec', v('t', 50_000n)],
      ['CPUQuotaPerSecUSec', v('t', 500_000n)],
      ['BlockIOWeight', v('t', 300n)],
      ['TasksMax', v('t', 10n)],
      ['AllowedCPUs', v('ay', Buffer.from([3]))],
      ['AllowedMemoryNodes', v('ay', Buffer.from([1]))],
    ]);
    // Old systemd: no CPUQuotaPeriodUSec (< 242), no AllowedCPUs (< 244); quota rounds up to whole percents;
    // -1 means infinity.
    expect(resourceProperties({ cpu: { quota: 33_333, cpus: '0' }, pids: { limit: -1 }, memory: { limit: -1 } }, true, 241)).toEqual([
      ['MemoryLimit', v('t', MAX64)],
      ['CPUQuotaPerSecUSec', v('t', 340_000n)],
      ['TasksMax', v('t', MAX64)],
    ]);
    // Period alone: quota unlimited.
    expect(resourceProperties({ cpu: { period: 10_000 } }, true, 252)).toEqual([['CPUQuotaPeriodUSec', v('t', 10_000n)], ['CPUQuotaPerSecUSec', v('t', MAX64)]]);
  });

  test('v2 resource properties, unified keys included', () => {
    const r = { memory: { limit: 100, reservation: 50, swap: 300 }, cpu: { shares: 1024 }, pids: { limit: 5 }, unified: { 'memory.high': '80', 'pids.max': 'max', 'cpu.max': '20000 100000', 'io.weight': '50' } };
    expect(resourceProperties(r, false, 252)).toEqual([
      ['MemoryMax', v('t', 100n)],
      ['MemoryLow', v('t', 50n)],
      ['MemorySwapMax', v('t', 200n)],
      ['CPUWeight', v('t', 39n)],
      ['TasksMax', v('t', 5n)],
      ['CPUQuotaPeriodUSec', v('t', 100_000n)],
      ['CPUQuotaPerSecUSec', v('t', 200_000n)],
      ['MemoryHigh', v('t', 80n)],
      ['TasksMax', v('t', MAX64)],
    ]);
    expect(() => resourceProperties({ unified: { 'memory.max': 'lots' } }, false, 252)).toThrow(/not a number/);
  });
});

describe('device rules to DevicePolicy/DeviceAllow (runc generateDeviceProperties)', () => {
  const PROC_DEVICES = 'Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  8 sd\n259 blkext\n';
  const v = (sig: string, value: DBusValue): Variant => new Variant(sig, value);
  const run = (rules: Parameters<typeof normalizeDeviceRules>[0]): { props: unknown; warnings: string[] } => {
    const warnings: string[] = [];
    return { props: deviceProperties(normalizeDeviceRules(rules), PROC_DEVICES, (w) => warnings.push(w)), warnings };
  };

  test('/proc/devices groups', () => {
    const g = parseProcDevices(PROC_DEVICES);
    expect(g.c.get(136)).toBe('pts');
    expect(g.b.get(8)).toBe('sd');
  });

  test('the default container list: paths, type globs and /proc/devices groups', () => {
    const { props, warnings } = run([{ allow: false, access: 'rwm' }, ...DEFAULT_ALLOWED_DEVICES]);
    expect(warnings).toEqual([]);
    expect(props).toEqual([
      ['DevicePolicy', v('s', 'strict')],
      [
        'DeviceAllow',
        v('a(ss)', [
          ['char-*', 'm'],
          ['block-*', 'm'],
          ['/dev/char/1:3', 'rwm'],
          ['/dev/char/1:8', 'rwm'],
          ['/dev/char/1:7', 'rwm'],
          ['/dev/char/5:0', 'rwm'],
          ['/dev/char/1:5', 'rwm'],
          ['/dev/char/1:9', 'rwm'],
          ['char-pts', 'rwm'],
          ['/dev/char/5:2', 'rwm'],
          ['/dev/char/10:200', 'rwm'],
        ]),
      ],
    ]);
  });

  test('replayed like the v1 controller: later denies remove permissions, "a" resets', () => {
    expect(run([{ allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]).props).toEqual([
      ['DevicePolicy', v('s', 'strict')],
      ['DeviceAllow', v('a(ss)', [['/dev/char/1:3', 'rm']])],
    ]);
    expect(run([{ allow: true, type: 'b', major: 8, minor: 0, access: 'r' }, { allow: true, access: 'rwm' }]).props).toEqual([
      ['DevicePolicy', v('s', 'auto')],
      ['DeviceAllow', v('a(ss)', [])],
    ]);
    const holes = run([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' }]);
    expect(holes.props).toEqual([['DevicePolicy', v('s', 'strict')], ['DeviceAllow', v('a(ss)', [])]]);
    expect(holes.warnings.join()).toMatch(/deny-list/);
  });

  test('what systemd cannot express is skipped with a warning', () => {
    const { props, warnings } = run([{ allow: true, type: 'c', minor: 3, access: 'r' }, { allow: true, type: 'b', major: 8, access: 'r' }, { allow: true, type: 'b', major: 77, access: 'r' }]);
    expect(props).toEqual([['DevicePolicy', v('s', 'strict')], ['DeviceAllow', v('a(ss)', [['block-sd', 'r']])]]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/"\*:3"/);
    expect(warnings[1]).toMatch(/b 77:\*/);
  });

  test('only when rules are given, first among the resource properties; skipDevices sends none', () => {
    const ctx = { procDevices: () => PROC_DEVICES, warn: () => undefined };
    expect(resourceProperties({ pids: { limit: 3 } }, true, 252, ctx).map((p) => p[0])).toEqual(['TasksMax']);
    expect(resourceProperties({ devices: [{ allow: false, access: 'rwm' }], pids: { limit: 3 } }, true, 252, ctx).map((p) => p[0])).toEqual(['DevicePolicy', 'DeviceAllow', 'TasksMax']);
    expect(resourceProperties({ devices: [{ allow: false, access: 'rwm' }] }, true, 252, undefined)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// End to end through a real dbus-daemon and a stand-in for systemd
// ---------------------------------------------------------------------------------------------------------

describe('systemd driver through a real dbus-daemon and a stand-in systemd', () => {
  let standin: SystemdStandin | undefined;
  let tmp: string;
  let address: string;
  let fake: FakeSystemd;
  const layout = hostLayout();
  const children: ChildProcess[] = [];
  const cgroups: Cgroup[] = [];
  const tag = `berthtest${process.pid}`;
  const slice = `${tag}-sub.slice`;

  beforeAll(async () => {
    standin = await startSystemdStandin(layout);
    ({ dir: tmp, address, fake } = standin);
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const cg of cgroups) await cg.remove().catch(() => undefined);
    await standin?.stop();
    // The slices are systemd's (it keeps them); the stand-in's and ours go with the test.
    for (const h of [...layout.v1, ...(layout.unified ? [layout.unified] : [])]) {
      for (const d of [path.join(h.mountPoint, `${tag}.slice`, slice), path.join(h.mountPoint, `${tag}.slice`)]) {
        try {
          fs.rmdirSync(d);
        } catch {
          // not there
        }
      }
    }
  });

  const opts = () => ({ driver: 'systemd' as const, layout, systemd: { endpoints: [{ address, kind: 'bus' as const }], jobTimeoutMs: 5000 } });

  function sleeper(): ChildProcess {
    const c = spawn('sleep', ['300'], { stdio: 'ignore' });
    children.push(c);
    return c;
  }

  test('the client itself: Hello, a call, an error reply, AddMatch + a signal', async () => {
    const c = await Connection.connect({ address, kind: 'bus' });
    try {
      expect(c.uniqueName).toMatch(/^:\d+\.\d+$/);
      const names = await c.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'ListNames' });
      expect(names.signature).toBe('as');
      expect(names.body?.[0]).toContain(SYSTEMD_NAME);
      const err = await c.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetNameOwner', signature: 's', body: ['no.such.Name'] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DBusError);
      expect((err as DBusError).errorName).toBe('org.freedesktop.DBus.Error.NameHasNoOwner');
      const got = new Promise<Message>((resolve) => c.onSignal((m) => m.member === 'Ping' && resolve(m)));
      await c.addMatch("type='signal',interface='org.berth.Test'");
      fake.conn.emitSignal({ path: '/x', interface: 'org.berth.Test', member: 'Ping', signature: 'a{sv}', body: [[['k', new Variant('x', -5n)]]] });
      expect((await got).body).toEqual([[['k', new Variant('x', -5n)]]]);
    } finally {
      c.close();
    }
  });

  test('a real process ends up in the scope, limits are in the kernel files, every property arrives as sent', async () => {
    const cg = resolveCgroup(`${slice}:${tag}:a`, 'a', opts());
    cgroups.push(cg);
    expect(cg).toBeInstanceOf(SystemdCgroup);
    const unit = `${tag}-a.scope`;
    const rel = `/${tag}.slice/${slice}/${unit}`;
    for (const d of Object.values(cg.paths)) expect(d.endsWith(rel)).toBe(true);

    cg.create();
    for (const d of Object.values(cg.paths)) expect(fs.existsSync(d)).toBe(false); // nothing before the process
    const devices = [{ allow: false, access: 'rwm' }, ...DEFAULT_ALLOWED_DEVICES];
    const resources = { devices, memory: { limit: 64 * 1024 * 1024 }, cpu: { shares: 512, quota: 25_000, period: 50_000, cpus: '0' }, pids: { limit: 17 } };
    cg.apply(resources);
    const child = sleeper();
    await cg.addProcess(child.pid as number);

    // The process is in the scope in every hierarchy, including those systemd does not manage (cpuset, …).
    const where = procCgroup(child.pid as number);
    for (const h of layout.v1) expect(where.get(h.controllers.join(','))).toBe(rel);
    if (layout.unified) expect(where.get('')).toBe(rel);
    expect(cg.pids()).toEqual([child.pid]);

    // The StartTransientUnit call as the stand-in decoded it: signature, name, mode, every property with its type.
    const start = fake.calls.filter((c) => c.member === 'StartTransientUnit').pop();
    expect(start?.signature).toBe('ssa(sv)a(sa(sv))');
    const [name, mode, props, aux] = start?.body as [string, string, [string, Variant][], unknown[]];
    expect([name, mode, aux]).toEqual([unit, 'replace', []]);
    const v1 = layout.mode !== 'v2';
    const v = (sig: string, value: DBusValue): Variant => new Variant(sig, value);
    expect(props).toEqual([
      ['Description', v('s', 'berth container a')],
      ['Slice', v('s', slice)],
      ['Delegate', v('b', true)],
      ['PIDs', v('au', [child.pid as number])],
      ['MemoryAccounting', v('b', true)],
      ['CPUAccounting', v('b', true)],
      [v1 ? 'BlockIOAccounting' : 'IOAccounting', v('b', true)],
      ['TasksAccounting', v('b', true)],
      ['DefaultDependencies', v('b', false)],
      ...deviceProperties(normalizeDeviceRules(devices), fs.readFileSync('/proc/devices', 'utf8'), () => undefined),
      ...(v1
        ? [
            ['MemoryLimit', v('t', 64n * 1024n * 1024n)],
            ['CPUShares', v('t', 512n)],
          ]
        : [
            ['MemoryMax', v('t', 64n * 1024n * 1024n)],
            ['CPUWeight', v('t', 20n)],
          ]),
      ['CPUQuotaPeriodUSec', v('t', 50_000n)],
      ['CPUQuotaPerSecUSec', v('t', 500_000n)],
      ['TasksMax', v('t', 17n)],
      ['AllowedCPUs', v('ay', Buffer.from([1]))],
    ]);
    expect((cg as SystemdCgroup).lastStartProperties).toEqual(props);

    // Limits in the kernel files (systemd's part, then cgroupfs for the rest: cpuset here).
    const read = (ctl: string, file: string): string => fs.readFileSync(path.join(cg.paths[ctl], file), 'utf8').trim();
    if (cg.paths['pids']) expect(read('pids', 'pids.max')).toBe('17');
    if (cg.paths['memory']) expect(read('memory', 'memory.limit_in_bytes')).toBe(String(64 * 1024 * 1024));
    if (cg.paths['cpu']) {
      expect(read('cpu', 'cpu.shares')).toBe('512');
      expect(read('cpu', 'cpu.cfs_quota_us')).toBe('25000');
      expect(read('cpu', 'cpu.cfs_period_us')).toBe('50000');
    }
    if (cg.paths['cpuset']) expect(read('cpuset', 'cpuset.cpus')).toBe('0');
    if (cg.paths['devices']) {
      // The allow list as the kernel keeps it (the stand-in wrote systemd's version, then cgroupfs ours).
      const list = read('devices', 'devices.list').split('\n').sort();
      expect(list).toEqual(['b *:* m', 'c *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 10:200 rwm', 'c 136:* rwm', 'c 5:0 rwm', 'c 5:2 rwm'].sort());
    }

    // Later processes join through cgroupfs (no second unit); the rest works on the scope's directories.
    const second = sleeper();
    await cg.addProcess(second.pid as number);
    expect(fake.calls.filter((c) => c.member === 'StartTransientUnit' && c.body[0] === unit)).toHaveLength(1);
    expect(cg.pids()).toEqual([child.pid, second.pid].sort((a, b) => (a as number) - (b as number)));
    expect(cg.stats().pids?.current).toBe(2);
    cg.freeze();
    expect(cg.state()).toBe('frozen');
    cg.thaw();

    // The shim re-opens it from the saved paths: same unit.
    const again = loadCgroup(cg.paths, opts()) as SystemdCgroup;
    expect(again.ref).toEqual({ slice, unit });

    // Teardown: StopUnit (the stand-in kills the scope and removes its directories), then our leftovers.
    await cg.remove();
    expect(fake.calls.some((c) => c.member === 'StopUnit' && c.body[0] === unit && c.body[1] === 'replace')).toBe(true);
    expect(fake.units.has(unit)).toBe(false);
    for (const d of Object.values(cg.paths)) expect(fs.existsSync(d)).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(child.signalCode).toBe('SIGKILL');
    await cg.remove(); // idempotent: NoSuchUnit is fine
  });

  test('update() sets unit properties at runtime (SetUnitProperties, runtime=true), then cgroupfs', async () => {
    const cg = resolveCgroup(`${slice}:${tag}:u`, 'u', opts());
    cgroups.push(cg);
    const child = sleeper();
    await cg.addProcess(child.pid as number);
    await cg.update({ pids: { limit: 9 } });
    const set = fake.calls.filter((c) => c.member === 'SetUnitProperties').pop();
    expect(set).toMatchObject({ member: 'SetUnitProperties', signature: 'sba(sv)', body: [`${tag}-u.scope`, true, [['TasksMax', new Variant('t', 9n)]]] });
    const pidsDir = cg.paths['pids'] ?? cg.paths[UNIFIED];
    if (fs.existsSync(path.join(pidsDir, 'pids.max'))) expect(fs.readFileSync(path.join(pidsDir, 'pids.max'), 'utf8').trim()).toBe('9');
    await cg.remove();
  });

  test('errors from systemd become clear BerthErrors; nothing is left behind', async () => {
    const cg = resolveCgroup(`${slice}:${tag}:e`, 'e', opts());
    cgroups.push(cg);
    const child = sleeper();
    fake.failNext = { name: 'org.freedesktop.DBus.Error.AccessDenied', text: 'Permission denied by policy' };
    const err = await cg.addProcess(child.pid as number).catch((e: unknown) => e);
    const e = expectBerth(err, 'PermissionDenied');
    expect(e.message).toBe(`systemd StartTransientUnit("${tag}-e.scope"): org.freedesktop.DBus.Error.AccessDenied: Permission denied by policy`);
    for (const d of Object.values(cg.paths)) expect(fs.existsSync(d)).toBe(false);

    // A job that does not end "done".
    fake.nextResult = 'failed';
    const err2 = await cg.addProcess(child.pid as number).catch((x: unknown) => x);
    fake.nextResult = 'done';
    expect(expectBerth(err2, 'FailedPrecondition').message).toMatch(/job \/org\/freedesktop\/systemd1\/job\/\d+ ended with result "failed"/);
    await cg.remove();
    for (const d of Object.values(cg.paths)) expect(fs.existsSync(d)).toBe(false);

    // Nobody listening.
    const dead = resolveCgroup(`${slice}:${tag}:d`, 'd', { ...opts(), systemd: { endpoints: [{ address: path.join(tmp, 'nothing'), kind: 'peer' as const }] } });
    const err3 = await dead.addProcess(child.pid as number).catch((x: unknown) => x);
    expect(expectBerth(err3, 'Unavailable').message).toMatch(/cannot reach systemd over D-Bus \(.*nothing: ENOENT\)/);
  });

  test('a failed unit left over from before is reset and the start retried (runc); a live one is an error', async () => {
    const cg = resolveCgroup(`${slice}:${tag}:r`, 'r', opts());
    cgroups.push(cg);
    const unit = `${tag}-r.scope`;
    const child = sleeper();
    // A live unit of that name: ResetFailedUnit does not remove it, the retry fails, the error says why.
    fake.units.set(unit, { slice, dirs: [], props: new Map() });
    let from = fake.calls.length;
    const err = await cg.addProcess(child.pid as number).catch((x: unknown) => x);
    expect(expectBerth(err, 'AlreadyExists').message).toMatch(/org\.freedesktop\.systemd1\.UnitExists: Unit berthtest\d+-r\.scope was already loaded/);
    expect(fake.calls.slice(from).map((c) => c.member)).toEqual(['StartTransientUnit', 'ResetFailedUnit', 'StartTransientUnit']);
    // A failed one: reset, then started. JobRemoved arriving before the method reply must not be missed.
    fake.units.set(unit, { slice, dirs: [], props: new Map(), failed: true });
    from = fake.calls.length;
    fake.signalFirst = true;
    try {
      await cg.addProcess(child.pid as number);
    } finally {
      fake.signalFirst = false;
    }
    expect(fake.calls.slice(from).map((c) => c.member)).toEqual(['StartTransientUnit', 'ResetFailedUnit', 'StartTransientUnit']);
    expect(procCgroup(child.pid as number).get(layout.unified ? '' : 'pids')).toBe(`/${tag}.slice/${slice}/${unit}`);
    await cg.remove();
  });

  testIf(cgroupV2())('pure cgroup v2 (this host\'s cgroup2 mount viewed alone): v2 properties, one directory', async () => {
    const v2layout = unifiedOnly(layout);
    fake.layout = v2layout;
    const cg = resolveCgroup(`${slice}:${tag}:v2`, 'v2', { ...opts(), layout: v2layout });
    cgroups.push(cg);
    expect(Object.keys(cg.paths)).toEqual([UNIFIED]);
    cg.apply({ pids: { limit: 4 } });
    const child = sleeper();
    const result = await cg.addProcess(child.pid as number).catch((e: unknown) => e);
    const start = fake.calls.filter((c) => c.member === 'StartTransientUnit').pop();
    const props = new Map(start?.body[2] as [string, Variant][]);
    expect(props.get('IOAccounting')).toEqual(new Variant('b', true));
    expect(props.has('BlockIOAccounting')).toBe(false);
    expect(props.get('TasksMax')).toEqual(new Variant('t', 4n));
    expect(procCgroup(child.pid as number).get('')).toBe(`/${tag}.slice/${slice}/${tag}-v2.scope`);
    if (v2layout.unified?.controllers.includes('pids')) {
      expect(result).toBeUndefined();
      expect(fs.readFileSync(path.join(cg.paths[UNIFIED], 'pids.max'), 'utf8').trim()).toBe('4');
    } else {
      // This host's cgroup2 mount has no pids controller: the unit started, then the cgroupfs part failed. The
      // documented contract: the error names the field, and remove() tears the started unit down.
      expect(expectBerth(result, 'FailedPrecondition').field).toBe('linux.resources.pids.limit');
      expect(fake.units.has(`${tag}-v2.scope`)).toBe(true);
    }
    await cg.remove();
    fake.layout = layout;
    expect(fs.existsSync(cg.paths[UNIFIED])).toBe(false);
  });

  test("peer mode (systemd's private socket): SASL bytes, no Hello, no destination; a missing endpoint is skipped", async () => {
    const authLines: string[] = [];
    const file = path.join(tmp, 'private');
    const server = await privateSocket(file, fake, authLines);
    try {
      const cg = resolveCgroup(`${slice}:${tag}:p`, 'p', {
        ...opts(),
        systemd: { endpoints: [{ address: path.join(tmp, 'missing'), kind: 'peer' as const }, { address: `unix:path=${file}`, kind: 'peer' as const }], jobTimeoutMs: 5000 },
      });
      cgroups.push(cg);
      const from = fake.calls.length;
      const child = sleeper();
      await cg.addProcess(child.pid as number);
      // NUL, then AUTH EXTERNAL with the uid as hex of its decimal digits ("0" → 30).
      expect(authLines).toEqual([`\0AUTH EXTERNAL ${Buffer.from(String(process.getuid?.())).toString('hex')}`]);
      // A Hello would have gone to the stand-in (no daemon in between) and failed the connection.
      expect(fake.calls.slice(from).map((c) => [c.member, c.peer, c.destination])).toEqual([['StartTransientUnit', true, undefined]]);
      expect(procCgroup(child.pid as number).get(layout.unified ? '' : 'pids')).toBe(`/${tag}.slice/${slice}/${tag}-p.scope`);
      await cg.remove();
      expect(fake.calls.slice(from).map((c) => c.member)).toEqual(['StartTransientUnit', 'StopUnit', 'ResetFailedUnit']);
      for (const d of Object.values(cg.paths)) expect(fs.existsSync(d)).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('systemd absent from the bus is Unavailable', async () => {
    await fake.conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'ReleaseName', signature: 's', body: [SYSTEMD_NAME] });
    try {
      const cg = resolveCgroup(`${slice}:${tag}:n`, 'n', opts());
      const err = await cg.addProcess(sleeper().pid as number).catch((e: unknown) => e);
      expect(expectBerth(err, 'Unavailable').message).toMatch(/NameHasNoOwner/);
    } finally {
      await fake.conn.requestName(SYSTEMD_NAME);
    }
  });

  test('nothing is left: no unit, no scope directory, no process of ours in the slice', () => {
    expect([...fake.units.keys()]).toEqual([]);
    for (const h of [...layout.v1, ...(layout.unified ? [layout.unified] : [])]) {
      const dir = path.join(h.mountPoint, `${tag}.slice`, slice);
      if (!fs.existsSync(dir)) continue;
      expect(fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)).toEqual([]);
      expect(readProcs(dir)).toEqual([]);
    }
  });
});
