/**
 * berth-run as containerd's runc: a private containerd (test/helpers/containerd.ts) drives its runc shim with
 * `ctr run --runc-binary`, once with Debian's runc and once with berth-run, through the same cases (foreground
 * and detached runs, exec with and without a tty, pause/resume, metrics, kill, delete, rm). runc goes first and
 * sets the expectation; berth-run must give the same observable results (ids and pids normalised).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { BERTH_RUN, REPO, requireTools } from '../helpers/oci';
import { DEBIAN_CONTAINERD, PrivateContainerd, mountsUnder, peerContainerd, type ContainerdBinaries, type CtrResult, type ShimRuntime } from '../helpers/containerd';

// Debian's containerd 1.6 and the current 2.x (built by hack/peers); each gets the whole suite.
const CONTAINERDS: ContainerdBinaries[] = [DEBIAN_CONTAINERD, peerContainerd()];
const RUNC = '/usr/sbin/runc';
const IMAGE = 'docker.io/berth/fixture:latest';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What one runtime showed for one case: `seen` is compared, `log` (berth-run's log.json etc.) explains. */
interface Outcome<T> {
  seen: T;
  log: string;
}

describe.each(CONTAINERDS)('$label: berth-run as the runc binary behaves like runc', (bin) => {
  let ctrd: PrivateContainerd | undefined;
  let runc: ShimRuntime;
  let berth: ShimRuntime;

  beforeAll(async () => {
    requireTools('runc', 'script', 'tar');
    ctrd = await PrivateContainerd.start(bin, `berthrt${process.pid}`);
    runc = ctrd.addRuntime('runc', RUNC);
    berth = ctrd.addRuntime('berth-run', BERTH_RUN);
    const fixtures = execFileSync(path.join(REPO, 'hack', 'fixtures'), { encoding: 'utf8' }).trim();
    ctrd.importLayout(path.join(fixtures, 'oci-layout'), IMAGE.slice(0, IMAGE.lastIndexOf(':')));
  }, 60000);

  afterAll(async () => {
    await ctrd?.stop();
  }, 60000);

  const daemon = (): PrivateContainerd => {
    if (!ctrd) throw new Error('containerd did not start');
    return ctrd;
  };
  const ctr = (args: string[], timeoutMs?: number) => daemon().ctr(args, { timeoutMs });
  const ctrOk = (args: string[], timeoutMs?: number) => daemon().ctrOk(args, { timeoutMs });
  const fifo = () => ['--fifo-dir', daemon().fifoDir];

  /** A per-case, per-runtime container id, unique on the host (other suites may run containerd too). */
  const idFor = (what: string, rt: ShimRuntime) => daemon().track(`${what}-${rt.name === 'runc' ? 'runc' : 'berth'}-${process.pid}`);

  /** Replaces what legitimately differs between two runs (ids, the namespace) and the pty's \r and NULs. */
  const normalise = (text: string, id: string) => text.split(id).join('<id>').split(daemon().namespace).join('<ns>').replace(/\r/g, '').replace(/\0/g, '');

  function taskRow(id: string): { pid: number; status: string } | undefined {
    for (const line of ctrOk(['task', 'ls']).stdout.split('\n').slice(1)) {
      const [task, pid, status] = line.trim().split(/\s+/);
      if (task === id) return { pid: Number(pid), status };
    }
    return undefined;
  }

  async function waitStatus(id: string, status: string, timeoutMs = 10000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = taskRow(id)?.status;
      if (now === status || Date.now() > deadline) return now;
      await sleep(25);
    }
  }

  /** The runtime's --log as the shim wrote it (<bundle>/log.json), for failure messages. */
  function runtimeLog(id: string): string {
    try {
      return fs.readFileSync(path.join(daemon().bundle(id), 'log.json'), 'utf8');
    } catch {
      return '(no log.json)';
    }
  }

  function runDetached(rt: ShimRuntime, id: string, cmd: string[], flags: string[] = []): { pid: number; status: string } {
    ctrOk(['run', '-d', ...fifo(), ...rt.flags, ...flags, IMAGE, id, ...cmd]);
    const row = taskRow(id);
    if (!row) throw new Error(`ctr run -d ${id}: no task listed`);
    return row;
  }

  /** Best-effort teardown of a test's container, whatever state the test left it in. */
  async function discard(id: string): Promise<void> {
    if (taskRow(id)) {
      ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      await waitStatus(id, 'STOPPED', 5000);
      ctr(['task', 'delete', '--force', id]);
    }
    ctr(['containers', 'rm', id]);
  }

  /**
   * Runs `body` with runc, then with berth-run; each gets its own container id, removed afterwards. `note`
   * adds to what a failure shows (the runtime's log.json is added when the bundle still exists).
   */
  async function both<T>(what: string, body: (rt: ShimRuntime, id: string, note: (s: string) => void) => Promise<T> | T): Promise<{ runc: Outcome<T>; berth: Outcome<T> }> {
    const one = async (rt: ShimRuntime): Promise<Outcome<T>> => {
      const id = idFor(what, rt);
      const notes: string[] = [];
      try {
        const seen = await body(rt, id, (s) => notes.push(s));
        if (fs.existsSync(daemon().bundle(id))) notes.push(`log.json: ${runtimeLog(id)}`);
        return { seen, log: notes.join('\n') };
      } finally {
        // Never masks the test's own failure; afterAll's stop() removes whatever this could not.
        await discard(id).catch(() => undefined);
      }
    };
    return { runc: await one(runc), berth: await one(berth) };
  }

  /** berth-run's observations must equal runc's; the message carries berth-run's log.json. */
  function expectSame<T>(what: string, r: { runc: Outcome<T>; berth: Outcome<T> }): void {
    try {
      expect(r.berth.seen).toEqual(r.runc.seen);
    } catch (err) {
      throw new Error(`${what}: berth-run differs from runc\n${(err as Error).message}\n\nwith berth-run:\n${r.berth.log}\n\nwith runc:\n${r.runc.log}`);
    }
  }

  const io = (r: CtrResult, id: string) => ({ status: r.status, stdout: normalise(r.stdout, id), stderr: normalise(r.stderr, id) });

  test('ctr run --rm in the foreground: output, stderr and exit status (0 and non-zero)', async () => {
    const probe = 'echo out; echo err >&2; id; pwd; echo "$PATH"; cat /proc/self/cgroup; ls /dev; exit 0';
    const r = await both('fg', (rt, id) => {
      const ok = ctr(['run', '--rm', ...fifo(), ...rt.flags, IMAGE, id, 'sh', '-c', probe]);
      const failId = daemon().track(`${id}-x`);
      const failed = ctr(['run', '--rm', ...fifo(), ...rt.flags, IMAGE, failId, 'sh', '-c', 'echo bye; echo oops >&2; exit 3']);
      return {
        ok: io(ok, id),
        failed: io(failed, failId),
        // --rm removed the container, and the runtime's state with it.
        containers: ctrOk(['containers', 'ls', '-q']).stdout.split('\n').filter((c) => c === id || c === failId),
        state: [id, failId].filter((c) => fs.existsSync(path.join(rt.stateDir, c))),
      };
    });
    expect(r.runc.seen.ok).toMatchObject({ status: 0, stderr: 'err\n' });
    expect(r.runc.seen.ok.stdout).toMatch(/^out\nuid=0\(root\)/);
    expect(r.runc.seen.failed).toEqual({ status: 3, stdout: 'bye\n', stderr: 'oops\n' });
    expect(r.runc.seen.containers).toEqual([]);
    expectSame('ctr run --rm', r);
  }, 60000);

  test('ctr run -d: the task is RUNNING, ctr task ps lists its init, which sits in the /<ns>/<id> cgroup', async () => {
    const r = await both('detach', (rt, id) => {
      const row = runDetached(rt, id, ['sleep', '1000']);
      const ps = ctrOk(['task', 'ps', id]).stdout.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0])).filter((p) => p > 0);
      return {
        status: row.status,
        psListsInit: ps.includes(row.pid),
        cmdline: fs.readFileSync(`/proc/${row.pid}/cmdline`, 'utf8').split('\0').join(' ').trim(),
        cgroup: normalise(fs.readFileSync(`/proc/${row.pid}/cgroup`, 'utf8'), id).split('\n').filter(Boolean).sort(),
        stateDir: fs.existsSync(path.join(rt.stateDir, id)),
        rootfsMounted: mountsUnder(path.join(daemon().bundle(id), 'rootfs')).length > 0,
        shimSocket: fs.existsSync(daemon().shimSocket(id)),
      };
    });
    expect(r.runc.seen).toMatchObject({ status: 'RUNNING', psListsInit: true, cmdline: 'sleep 1000', stateDir: true, rootfsMounted: true, shimSocket: true });
    expect(r.runc.seen.cgroup).toContainEqual(expect.stringMatching(/^\d+:pids:\/<ns>\/<id>$|^0::\/<ns>\/<id>$/));
    expectSame('ctr run -d', r);
  }, 60000);

  test('ctr task exec without a tty: output, stderr and exit status, in the container\'s pid namespace', async () => {
    const r = await both('exec', (rt, id) => {
      runDetached(rt, id, ['sleep', '1000']);
      const out = ctr(['task', 'exec', ...fifo(), '--exec-id', 'e1', id, 'sh', '-c', 'echo out; echo err >&2; tr "\\0" " " </proc/1/cmdline; echo; exit 7']);
      const ok = ctr(['task', 'exec', ...fifo(), '--exec-id', 'e2', '--cwd', '/tmp', id, 'pwd']);
      return { out: io(out, id), ok: io(ok, id) };
    });
    expect(r.runc.seen.out).toEqual({ status: 7, stdout: 'out\nsleep 1000 \n', stderr: 'err\n' });
    expect(r.runc.seen.ok).toEqual({ status: 0, stdout: '/tmp\n', stderr: '' });
    expectSame('ctr task exec', r);
  }, 60000);

  test('ctr task exec of a missing binary: ctr fails and shows the runtime\'s reason (from log.json)', async () => {
    const r = await both('exec-missing', (rt, id, note) => {
      runDetached(rt, id, ['sleep', '1000']);
      const res = ctr(['task', 'exec', ...fifo(), '--exec-id', 'e1', id, '/nonexistent']);
      note(`ctr said: ${res.stderr}`);
      return {
        status: res.status,
        // The shim reads the reason from the runtime's last error in <bundle>/log.json.
        reasonShown: /stat \/nonexistent: no such file or directory/i.test(res.stderr) && !/unable to retrieve OCI runtime error/.test(res.stderr),
      };
    });
    expect(r.runc.seen).toEqual({ status: 1, reasonShown: true });
    expectSame('ctr task exec /nonexistent', r);
  }, 60000);

  test('ctr task exec -t: the process has a terminal; output and exit status come through it', async () => {
    const r = await both('tty', async (rt, id) => {
      runDetached(rt, id, ['sleep', '1000']);
      const res = await daemon().ctrTty(['task', 'exec', ...fifo(), '-t', '--exec-id', 't1', id, 'sh', '-c', 'tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty; echo hi; exit 4']);
      // ctr's last resize can race the exit ("cannot resize a stopped container"): noise from ctr, not the runtime.
      const stdout = normalise(res.stdout, id).replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => !/resize pty/.test(l)).join('\n');
      return { status: res.status, stdout };
    });
    expect(r.runc.seen).toEqual({ status: 4, stdout: '/dev/pts/0\nall-tty\nhi\n' });
    expectSame('ctr task exec -t', r);
  }, 60000);

  test('ctr task pause / resume: PAUSED and frozen (a counter stops), then RUNNING and counting again', async () => {
    const r = await both('pause', async (rt, id) => {
      // Written aside and renamed into place: frozen between a truncate and its write, the file would stay empty.
      const { pid } = runDetached(rt, id, ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done']);
      // Read through /proc/<pid>/root: exec is refused while paused.
      const count = async () => {
        for (let i = 0; i < 100; i++) {
          let v = '';
          try {
            v = fs.readFileSync(`/proc/${pid}/root/tmp/count`, 'utf8').trim();
          } catch {
            // not written yet
          }
          if (v) return Number(v);
          await sleep(10);
        }
        throw new Error('the counter file stayed empty');
      };
      const freezer = () => {
        const v1 = path.join(daemon().cgroupDir(id, 'freezer'), 'freezer.state');
        if (fs.existsSync(v1)) return fs.readFileSync(v1, 'utf8').trim();
        return fs.readFileSync(path.join(daemon().cgroupDir(id), 'cgroup.freeze'), 'utf8').trim() === '1' ? 'FROZEN' : 'THAWED';
      };
      const start = Date.now();
      while (!fs.existsSync(`/proc/${pid}/root/tmp/count`) && Date.now() - start < 5000) await sleep(20);
      const pause = ctr(['task', 'pause', id]);
      const paused = { pause: pause.status, status: taskRow(id)?.status, freezer: freezer() };
      const before = await count();
      await sleep(400);
      const advancedWhilePaused = (await count()) - before;
      const resume = ctr(['task', 'resume', id]);
      const resumed = { resume: resume.status, status: taskRow(id)?.status, freezer: freezer() };
      const deadline = Date.now() + 3000;
      let advancedAfterResume = false;
      while (!advancedAfterResume && Date.now() < deadline) {
        await sleep(50);
        advancedAfterResume = (await count()) > before;
      }
      return { ranBefore: before > 0, paused, advancedWhilePaused, resumed, advancedAfterResume };
    });
    expect(r.runc.seen).toEqual({
      ranBefore: true, paused: { pause: 0, status: 'PAUSED', freezer: 'FROZEN' }, advancedWhilePaused: 0,
      resumed: { resume: 0, status: 'RUNNING', freezer: 'THAWED' }, advancedAfterResume: true,
    });
    expectSame('ctr task pause/resume', r);
  }, 60000);

  test('ctr task metrics: one pid, the memory limit given to ctr run, plausible usage', async () => {
    const limit = 64 * 1024 * 1024;
    const r = await both('metrics', (rt, id) => {
      runDetached(rt, id, ['sleep', '1000'], ['--memory-limit', String(limit)]);
      const table = ctrOk(['task', 'metrics', id]).stdout;
      const m = metrics(JSON.parse(ctrOk(['task', 'metrics', '--format', 'json', id]).stdout));
      const rows = table.split('\n').map((l) => l.split(/\s+/)[0]).filter((n) => /^[a-z_]+\./.test(n)).sort();
      return {
        rows,
        pids: m.pids,
        memoryLimit: m.memoryLimit,
        // A sleeping busybox: some pages, far below the limit; some CPU time to exec it.
        usagePlausible: m.memoryUsage > 0 && m.memoryUsage < 16 * 1024 * 1024,
        cpuUsed: m.cpuNanos > 0,
      };
    });
    expect(r.runc.seen).toMatchObject({ pids: 1, memoryLimit: limit, usagePlausible: true, cpuUsed: true });
    expect(r.runc.seen.rows).toEqual(expect.arrayContaining(['pids.current']));
    expectSame('ctr task metrics', r);
  }, 60000);

  /** Kills the task with `signal`, then deletes it and removes the container, noting what is left at each step. */
  async function killDeleteRemove(rt: ShimRuntime, id: string, signal: string, note: (s: string) => void) {
    const kill = ctr(['task', 'kill', '-s', signal, id]);
    const status = await waitStatus(id, 'STOPPED');
    note(`log.json before delete: ${runtimeLog(id)}`);
    const del = ctr(['task', 'delete', id]);
    // ctr 1.6 reports a non-zero exit status as a warning on stderr, and exits 0.
    const exitCode = Number(/exit code (\d+)/.exec(del.stderr)?.[1] ?? 0);
    const afterDelete = {
      listed: taskRow(id) !== undefined,
      state: fs.existsSync(path.join(rt.stateDir, id)),
      cgroups: daemon().cgroupDirs().filter((d) => d.endsWith(`/${id}`)).length,
      mounts: mountsUnder(daemon().bundle(id)).length,
      bundle: fs.existsSync(daemon().bundle(id)),
      shimSocket: fs.existsSync(daemon().shimSocket(id)),
    };
    const rm = ctr(['containers', 'rm', id]);
    const afterRm = {
      listed: ctrOk(['containers', 'ls', '-q']).stdout.split('\n').includes(id),
      snapshot: ctrOk(['snapshots', 'ls']).stdout.split('\n').some((l) => l.split(/\s+/)[0] === id),
    };
    note(`ctr task kill: ${kill.stderr}ctr task delete: ${del.stderr}ctr containers rm: ${rm.stderr}`);
    return { kill: kill.status, status, delete: del.status, exitCode, afterDelete, rm: rm.status, afterRm };
  }

  const cleanAfterDelete = { listed: false, state: false, cgroups: 0, mounts: 0, bundle: false, shimSocket: false };

  test('ctr task kill (SIGTERM), delete, rm: STOPPED with status 143, nothing left behind', async () => {
    const r = await both('term', async (rt, id, note) => {
      // The init is pid 1 of its namespace, which ignores a signal it has no handler for: trap TERM, and exit as
      // a SIGTERM death would (only TERM is trapped, so any other signal but KILL would leave it running).
      const { pid } = runDetached(rt, id, ['sh', '-c', 'trap "exit 143" TERM; touch /tmp/trapped; sleep 1000 & wait']);
      const deadline = Date.now() + 5000;
      while (!fs.existsSync(`/proc/${pid}/root/tmp/trapped`) && Date.now() < deadline) await sleep(20);
      return killDeleteRemove(rt, id, 'SIGTERM', note);
    });
    expect(r.runc.seen).toEqual({ kill: 0, status: 'STOPPED', delete: 0, exitCode: 143, afterDelete: cleanAfterDelete, rm: 0, afterRm: { listed: false, snapshot: false } });
    expectSame('ctr task kill SIGTERM / delete / rm', r);
  }, 60000);

  test('ctr task kill -s SIGKILL, delete, rm: STOPPED with status 137, nothing left behind', async () => {
    const r = await both('kill', async (rt, id, note) => {
      runDetached(rt, id, ['sleep', '1000']);
      return killDeleteRemove(rt, id, 'SIGKILL', note);
    });
    expect(r.runc.seen).toEqual({ kill: 0, status: 'STOPPED', delete: 0, exitCode: 137, afterDelete: cleanAfterDelete, rm: 0, afterRm: { listed: false, snapshot: false } });
    expectSame('ctr task kill SIGKILL / delete / rm', r);
  }, 60000);
});

/** The numbers the metrics test needs, from ctr's JSON of cgroup v1 (containerd 1.x) or v2 metrics. */
function metrics(raw: unknown): { pids: number; memoryLimit: number; memoryUsage: number; cpuNanos: number } {
  const m = raw as {
    pids?: { current?: number };
    memory?: { usage?: number | { usage?: number; limit?: number }; usage_limit?: number };
    cpu?: { usage?: { total?: number }; usage_usec?: number };
  };
  const usage = m.memory?.usage;
  return {
    pids: m.pids?.current ?? -1,
    memoryLimit: typeof usage === 'object' ? usage.limit ?? -1 : m.memory?.usage_limit ?? -1,
    memoryUsage: typeof usage === 'object' ? usage.usage ?? -1 : usage ?? -1,
    cpuNanos: m.cpu?.usage?.total ?? (m.cpu?.usage_usec ?? -1) * 1000,
  };
}
