/** Encoder for the plan wire format read by src/native/plan.c (tags must match plan.h). */

export const Tag = {
  MODE: 1, OPTIONS: 2, CLONE_FLAGS: 3, JOIN_NS: 4, UID_MAP: 5, GID_MAP: 6, ROOTFS: 7, ROOT_PROPAGATION: 8,
  MOUNT: 9, DEVICE: 10, SYMLINK: 11, MASK: 12, READONLY: 13, SYSCTL: 14, HOSTNAME: 15, DOMAINNAME: 16,
  RLIMIT: 17, OOM_SCORE_ADJ: 18, USER: 19, GROUP: 20, CAPS: 21, APPARMOR: 22, SELINUX: 23, SECCOMP: 24,
  CWD: 25, ARG: 26, ENV: 27, HOOK: 28, CONSOLE_SOCKET: 29, CONSOLE_SIZE: 30, START_SOCKET: 31,
  PRESERVE_FDS: 32, PERSONALITY: 33, TIME_OFFSET: 34, DEVICE_BPF: 35, IOPRIO: 36,
  CGROUP_JOIN: 37,
} as const;

export const Mode = { INIT: 1, EXEC: 2, DEVICE_BPF: 3 } as const;

export const Option = {
  FOREGROUND: 1 << 0, NO_PIVOT: 1 << 1, ROOT_READONLY: 1 << 2, NO_NEW_PRIVS: 1 << 3, TERMINAL: 1 << 4,
  SETSID: 1 << 5,
} as const;

export type Field = bigint | number | string | Buffer;

/** Builds the byte stream; numbers become u64, strings and buffers length-prefixed and NUL-terminated. */
export class PlanWriter {
  private readonly chunks: Buffer[] = [];

  add(tag: number, ...fields: Field[]): this {
    const parts = fields.map(encodeField);
    const body = Buffer.concat(parts);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(tag, 0);
    head.writeUInt32LE(body.length, 4);
    this.chunks.push(head, body);
    return this;
  }

  /** The whole message: u32 length, then the records. */
  finish(): Buffer {
    const body = Buffer.concat(this.chunks);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length, 0);
    return Buffer.concat([head, body]);
  }
}

function encodeField(f: Field): Buffer {
  if (typeof f === 'number' || typeof f === 'bigint') {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(f)), 0);
    return b;
  }
  const data = typeof f === 'string' ? Buffer.from(f, 'utf8') : f;
  if (typeof f === 'string' && data.includes(0)) throw new Error('plan strings cannot contain NUL bytes');
  const b = Buffer.alloc(4 + data.length + 1);
  b.writeUInt32LE(data.length + 1, 0);
  data.copy(b, 4);
  return b;
}
