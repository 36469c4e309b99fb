/** The host-feature helper itself: what the probes conclude, and which registration itIf/describeIf pick. */
import { spawnSync } from 'node:child_process';
import { describeIf, ia32Verdict, itIf, probe, requireHost } from './host';

describe('host feature probes', () => {
  test('the i386 verdict: a child killed by SIGSEGV (as on a kernel whose 32-bit entry faults) means missing', () => {
    // A real child dying of SIGSEGV, the way the loader dies when int $0x80 faults.
    const r = spawnSync('sh', ['-c', 'kill -SEGV $$'], { encoding: 'utf8' });
    expect(r.signal).toBe('SIGSEGV');
    expect(ia32Verdict(r)).toMatch(/^i386 syscalls \(int \$0x80 is killed by SIGSEGV: this kernel cannot run 32-bit code\)$/);
    expect(ia32Verdict({ status: 0, signal: null, stdout: 'ret=-1 errno=38\n', stderr: '' })).toMatch(/ret=-1 errno=38/);
    expect(ia32Verdict({ status: 0, signal: null, stdout: 'ret=4242 errno=0\n', stderr: '' })).toBeUndefined();
  });

  test('a probe runs once per file, and a throwing probe counts as missing with its message', () => {
    let calls = 0;
    const once = () => probe('berth-selftest-once', () => {
      calls++;
      return undefined;
    });
    expect(once().present).toBe(true);
    expect(once().present).toBe(true);
    expect(calls).toBe(1);
    const broken = probe('berth-selftest-broken', () => {
      throw new Error('no such tool');
    });
    expect(broken).toEqual({ name: 'berth-selftest-broken', present: false, missing: 'berth-selftest-broken: probe failed: no such tool' });
    expect(() => requireHost(broken)).toThrow('this suite cannot run on this host: berth-selftest-broken: probe failed: no such tool');
  });

  test('present: the plain jest functions; absent: something else (a skip, registered only when called)', () => {
    const here = probe('berth-selftest-here', () => undefined);
    const gone = probe('berth-selftest-gone', () => 'nothing');
    expect(itIf(here)).toBe(it);
    expect(itIf([here, here])).toBe(it);
    expect(describeIf(true)).toBe(describe);
    expect(itIf(gone)).not.toBe(it);
    expect(itIf([here, gone])).not.toBe(it);
    expect(describeIf(false, 'x')).not.toBe(describe);
  });
});
