/** Encoder for the plan wire format read by src/native/plan.c (tags must match plan.h). */

export const Tag = {
  MODE: 1, OPTIONS: 2, CLONE_FLAGS: 3, JOIN_NS: 4, UID_MAP: 5, GID_MAP: 6, ROOTFS: 7, ROOT_PROPAGATION: 8,
  MOUNT: 9, DEVICE: 10, SYMLINK: 11, MASK: 12, READONLY: 13, SYSCTL: 14, HOSTNAME: 15, DOMAINNAME: 16,
  RLIMIT: 17, OOM_SCORE_ADJ: 18, USER: 19, GROUP: 20, CAPS: 21, APPARMOR: 22, SELINUX: 23, SECCOMP: 24,
  CWD: 25, ARG: 26, ENV: 27, HOOK: 28, CONSOLE_SOCKET: 29, CONSOLE_SIZE: 30, START_SOCKET: 31,
  PRESERVE_FDS: 32, PERSONALITY: 33, TIME_OFFSET: 34, DEVICE_BPF: 35, IOPRIO: 36,
  CGROUP_JOIN: 37, CGROUP_LEAVE: 38, DETACH: 39, SCHEDULER: 40, CPU_AFFINITY: 41,
} as const;

export const Mode = { INIT: 1, EXEC: 2, DEVICE_BPF: 3, DETACH: 4 } as const;

export const Option = {
  FOREGROUND: 1 << 0, NO_PIVOT: 1 << 1, ROOT_READONLY: 1 << 2, NO_NEW_PRIVS: 1 << 3, TERMINAL: 1 << 4,
  SETSID: 1 << 5, HOST_MOUNT_NS: 1 << 7, RUNTIME_HOOKS: 1 << 8,
} as const;

export type Field = bigint | number | string | Buffer;

/**
 * Builds the byte stream; numbers become u64, strings and buffers length-prefixed and NUL-terminated. It writes
 * into one growing buffer: a plan has hundreds of fields, and a small Buffer per field made building it the
 * largest single cost of a cold `berth-run run` (~9 ms of allocations in a fresh process).
 */
export class PlanWriter {
  private buf = Buffer.allocUnsafe(16384);
  /** The first 4 bytes are kept for the total length. */
  private len = 4;

  add(tag: number, ...fields: Field[]): this {
    const head = this.len;
    this.reserve(8);
    this.buf.writeUInt32LE(tag, head);
    this.len += 8;
    for (const f of fields) this.field(f);
    this.buf.writeUInt32LE(this.len - head - 8, head + 4);
    return this;
  }

  /** The whole message: u32 length, then the records. */
  finish(): Buffer {
    this.buf.writeUInt32LE(this.len - 4, 0);
    return this.buf.subarray(0, this.len);
  }

  private field(f: Field): void {
    if (typeof f === 'number' || typeof f === 'bigint') {
      this.reserve(8);
      this.buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(f)), this.len);
      this.len += 8;
      return;
    }
    const size = typeof f === 'string' ? Buffer.byteLength(f, 'utf8') : f.length;
    this.reserve(4 + size + 1);
    this.buf.writeUInt32LE(size + 1, this.len);
    const start = this.len + 4;
    if (typeof f === 'string') {
      this.buf.write(f, start, 'utf8');
      if (this.buf.subarray(start, start + size).includes(0)) throw new Error('plan strings cannot contain NUL bytes');
    } else {
      f.copy(this.buf, start);
    }
    this.buf[start + size] = 0;
    this.len = start + size + 1;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
}
