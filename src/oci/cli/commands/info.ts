/** ps, list, events, features, spec: commands that report rather than change. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alreadyExists, invalid } from '../../../common/errors';
import { writeFileAtomic } from '../../../common/atomic';
import { defaultSpec } from '../../spec/default';
import { CAPABILITIES } from '../../spec/names';
import { NAMESPACE_TYPES, SECCOMP_ACTIONS, SECCOMP_OPERATORS } from '../../spec/types';
import { OCI_VERSION } from '../../spec/validate';
import { flagBool, flagString } from '../../../common/args';
import { requireId, type Command } from '../command';
import { VERSION } from '../version';
import type { CgroupStats } from '../../cgroups';

export const ps: Command = {
  name: 'ps',
  usage: 'berth-run ps [options] <container-id> [ps options]',
  description: 'List the processes running in a container (table output comes from ps(1)).',
  flags: [{ name: 'format', short: 'f', kind: 'string', arg: 'table|json', help: 'output format (default table)' }],
  async run({ runtime, out }, args) {
    const id = requireId(args, 'ps', 'any');
    const format = flagString(args, 'format') ?? 'table';
    if (format !== 'table' && format !== 'json') throw invalid('--format', `unknown format "${format}"`);
    const pids = runtime.ps(id);
    if (format === 'json') {
      out(JSON.stringify(pids) + '\n');
      return 0;
    }
    const psArgs = args.positional.length > 1 ? args.positional.slice(1) : ['-ef'];
    const res = spawnSync('ps', psArgs, { encoding: 'utf8' });
    if (res.status !== 0) throw invalid('ps options', res.stderr.trim() || `ps ${psArgs.join(' ')} failed`);
    const lines = res.stdout.split('\n');
    const header = lines[0];
    const pidCol = header.trim().split(/\s+/).indexOf('PID');
    if (pidCol < 0) throw invalid('ps options', 'the ps output has no PID column');
    const set = new Set(pids);
    out([header, ...lines.slice(1).filter((l) => set.has(Number(l.trim().split(/\s+/)[pidCol])))].join('\n') + '\n');
    return 0;
  },
};

export const list: Command = {
  name: 'list',
  aliases: ['ls'],
  usage: 'berth-run list [options]',
  description: 'List the containers under --root.',
  flags: [
    { name: 'format', short: 'f', kind: 'string', arg: 'table|json', help: 'output format (default table)' },
    { name: 'quiet', short: 'q', kind: 'bool', help: 'print only the ids' },
  ],
  async run({ runtime, out }, args) {
    const format = flagString(args, 'format') ?? 'table';
    if (format !== 'table' && format !== 'json') throw invalid('--format', `unknown format "${format}"`);
    const all = runtime.list();
    if (flagBool(args, 'quiet')) {
      out(all.map((c) => c.id + '\n').join(''));
    } else if (format === 'json') {
      out(JSON.stringify(all.map((c) => ({ ociVersion: c.ociVersion, id: c.id, pid: c.pid ?? 0, status: c.status, bundle: c.bundle, rootfs: c.rootfs, created: c.created, annotations: c.annotations ?? {}, owner: 'root' }))) + '\n');
    } else {
      const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...all.map((c) => [c.id, String(c.pid ?? 0), c.status, c.bundle, c.created, 'root'])];
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      out(rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('   ').trimEnd() + '\n').join(''));
    }
    return 0;
  },
};

export const events: Command = {
  name: 'events',
  usage: 'berth-run events [options] <container-id>',
  description: 'Print container events as JSON lines: stats every interval, and OOM kills.',
  flags: [
    { name: 'stats', kind: 'bool', help: 'print the stats once and exit' },
    { name: 'interval', kind: 'string', arg: 'DURATION', help: 'stats interval, e.g. 5s or 500ms (default 5s)' },
  ],
  async run({ runtime, out }, args) {
    const id = requireId(args, 'events');
    const emitStats = () => out(JSON.stringify({ type: 'stats', id, data: runcStats(runtime.stats(id)) }) + '\n');
    if (flagBool(args, 'stats')) {
      emitStats();
      return 0;
    }
    const interval = parseDuration(flagString(args, 'interval') ?? '5s');
    let ooms = runtime.oomKills(id);
    for (;;) {
      if (runtime.state(id).status === 'stopped') return 0;
      emitStats();
      const now = runtime.oomKills(id);
      if (now > ooms) out(JSON.stringify({ type: 'oom', id }) + '\n');
      ooms = now;
      await new Promise((r) => setTimeout(r, interval));
    }
  },
};

/** runc's `events` data shape (libcontainer types.Stats), which shims written for runc decode. */
export function runcStats(st: CgroupStats): Record<string, unknown> {
  const limit = (v: number | null | undefined) => (v === null || v === undefined ? 0 : v);
  const data: Record<string, unknown> = {};
  if (st.cpu) {
    data.cpu = {
      usage: { total: st.cpu.usageNs, kernel: st.cpu.systemNs, user: st.cpu.userNs },
      throttling: { periods: st.cpu.throttling.periods, throttledPeriods: st.cpu.throttling.throttledPeriods, throttledTime: st.cpu.throttling.throttledNs },
    };
  }
  if (st.memory) {
    const m = st.memory;
    data.memory = {
      cache: m.cache,
      usage: { usage: m.usage, max: m.maxUsage ?? 0, limit: limit(m.limit), failcnt: m.failcnt },
      swap: m.swap ? { usage: m.swap.usage, limit: limit(m.swap.limit) } : undefined,
      raw: m.stat,
    };
  }
  if (st.pids) data.pids = { current: st.pids.current, limit: limit(st.pids.limit) };
  if (st.blkio) {
    data.blkio = {
      ioServiceBytesRecursive: st.blkio.devices.flatMap((d) => [
        { major: d.major, minor: d.minor, op: 'Read', value: d.readBytes },
        { major: d.major, minor: d.minor, op: 'Write', value: d.writeBytes },
      ]),
      ioServicedRecursive: st.blkio.devices.flatMap((d) => [
        { major: d.major, minor: d.minor, op: 'Read', value: d.readOps },
        { major: d.major, minor: d.minor, op: 'Write', value: d.writeOps },
      ]),
    };
  }
  data.hugetlb = Object.fromEntries(Object.entries(st.hugetlb).map(([size, h]) => [size, { usage: h.usage, max: h.maxUsage ?? 0, failcnt: h.failcnt }]));
  return data;
}

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!m) throw invalid('--interval', `"${text}" is not a duration like 5s or 500ms`);
  const n = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60000);
  if (n <= 0) throw invalid('--interval', 'must be positive');
  return n;
}

export const features: Command = {
  name: 'features',
  usage: 'berth-run features',
  description: 'Print what this runtime implements, as features.md JSON.',
  flags: [],
  async run({ out }) {
    const lsm = (() => { try { return fs.readFileSync('/sys/kernel/security/lsm', 'utf8').split(','); } catch { return []; } })();
    out(JSON.stringify({
      ociVersionMin: '1.0.0',
      ociVersionMax: OCI_VERSION,
      hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
      mountOptions: [
        'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'iversion', 'lazytime', 'loud', 'mand',
        'noatime', 'nodev', 'nodiratime', 'noexec', 'noiversion', 'nolazytime', 'nomand', 'norelatime', 'nostrictatime',
        'nosuid', 'nosymfollow', 'private', 'ratime', 'rbind', 'rdev', 'rdiratime', 'relatime', 'remount', 'rexec',
        'rnoatime', 'rnodev', 'rnodiratime', 'rnoexec', 'rnosuid', 'rnosymfollow', 'ro', 'rprivate', 'rro', 'rrw',
        'rshared', 'rslave', 'rsuid', 'rsymfollow', 'runbindable', 'rw', 'shared', 'silent', 'slave', 'strictatime',
        'suid', 'symfollow', 'sync', 'unbindable',
      ],
      linux: {
        namespaces: NAMESPACE_TYPES,
        capabilities: Object.keys(CAPABILITIES),
        cgroup: { v1: true, v2: true, systemd: true, systemdUser: false, rdma: false },
        seccomp: {
          enabled: true,
          actions: SECCOMP_ACTIONS.filter((a) => a !== 'SCMP_ACT_NOTIFY'),
          operators: SECCOMP_OPERATORS,
          archs: ['SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64'],
          knownFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
          supportedFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
        },
        apparmor: { enabled: lsm.includes('apparmor') },
        selinux: { enabled: lsm.includes('selinux') },
        intelRdt: { enabled: false },
        mountExtensions: { idmap: { enabled: false } },
      },
      annotations: { 'io.berth.run.version': VERSION },
    }, null, 2) + '\n');
    return 0;
  },
};

export const spec: Command = {
  name: 'spec',
  usage: 'berth-run spec [options]',
  description: 'Write a default config.json into the bundle directory.',
  flags: [
    { name: 'bundle', short: 'b', kind: 'string', arg: 'DIR', help: 'bundle directory (default: current directory)' },
    { name: 'rootless', kind: 'bool', help: 'not supported: berth-run runs as root' },
  ],
  async run(_ctx, args) {
    if (flagBool(args, 'rootless')) throw invalid('--rootless', 'rootless containers are not supported by berth-run');
    const file = path.join(path.resolve(flagString(args, 'bundle') ?? '.'), 'config.json');
    if (fs.existsSync(file)) throw alreadyExists(`File ${file} exists. Remove it first`);
    writeFileAtomic(file, JSON.stringify(defaultSpec({ ociVersion: OCI_VERSION }), null, '\t') + '\n', 0o644);
    return 0;
  },
};
