import * as os from 'node:os';
import { BerthError } from '../../common/errors';
import type { DeviceCgroupRule } from '../spec/types';
import { normalizeDeviceRules, type NormalizedDeviceRule } from './devices';

/**
 * cgroup v2 has no devices controller: access is decided by a BPF_PROG_TYPE_CGROUP_DEVICE program attached
 * to the cgroup (BPF_CGROUP_DEVICE). This compiles OCI device rules into such a program; loading and
 * attaching it (bpf(2)) is the C helper's job.
 *
 * Semantics: for every access bit requested (read, write, mknod) the LAST rule in spec order that matches
 * the device and names that bit decides; no matching rule means deny; the request is allowed only if every
 * requested bit is. Evaluating per bit keeps cgroup v1's behaviour for mixed rules (allow "rw", then deny
 * "w" → reading still allowed, opening read-write denied), which a whole-request "last match wins" would not.
 *
 * The program reads struct bpf_cgroup_dev_ctx { u32 access_type (type | access << 16); u32 major; u32 minor; }
 * and returns 1 (allow) or 0 (deny). It only jumps forward and has no unreachable instruction, which the
 * verifier requires.
 */

// include/uapi/linux/bpf.h
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;
export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
/** License string to pass to BPF_PROG_LOAD (same as runc; the program uses no GPL-only helper). */
export const DEVICE_PROGRAM_LICENSE = 'Apache';

// Opcodes (class | op | source).
export const OP = {
  LDXW: 0x61, // BPF_LDX | BPF_MEM | BPF_W
  AND32_K: 0x54, // BPF_ALU | BPF_AND | BPF_K
  RSH32_K: 0x74, // BPF_ALU | BPF_RSH | BPF_K
  MOV32_K: 0xb4, // BPF_ALU | BPF_MOV | BPF_K
  JA: 0x05, // BPF_JMP | BPF_JA
  JNE_K: 0x55, // BPF_JMP | BPF_JNE | BPF_K
  JSET_K: 0x45, // BPF_JMP | BPF_JSET | BPF_K
  EXIT: 0x95, // BPF_JMP | BPF_EXIT
} as const;

export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

interface Label {
  pos?: number;
}

class Assembler {
  readonly insns: (BpfInsn & { target?: Label })[] = [];

  emit(code: number, dst: number, src: number, off: number, imm: number, target?: Label): void {
    this.insns.push({ code, dst, src, off, imm, target });
  }

  place(l: Label): void {
    l.pos = this.insns.length;
  }

  resolve(): BpfInsn[] {
    return this.insns.map((insn, i) => {
      const { target, ...rest } = insn;
      if (!target) return rest;
      if (target.pos === undefined) throw new BerthError('Internal', 'device program: unplaced label');
      const off = target.pos - (i + 1);
      if (off < 0 || off > 0x7fff) throw new BerthError('ResourceExhausted', 'device program too large (jump beyond 32767 instructions)', { field: 'linux.resources.devices' });
      return { ...rest, off };
    });
  }
}

const R0 = 0;
const R1 = 1;
const R2 = 2; // device type
const R3 = 3; // requested access bits
const R4 = 4; // major
const R5 = 5; // minor

const ACCESS_BITS: [string, number][] = [
  ['r', BPF_DEVCG_ACC_READ],
  ['w', BPF_DEVCG_ACC_WRITE],
  ['m', BPF_DEVCG_ACC_MKNOD],
];

export function deviceProgramInsns(rules: readonly NormalizedDeviceRule[]): BpfInsn[] {
  const a = new Assembler();
  a.emit(OP.LDXW, R2, R1, 0, 0);
  a.emit(OP.AND32_K, R2, 0, 0, 0xffff);
  a.emit(OP.LDXW, R3, R1, 0, 0);
  a.emit(OP.RSH32_K, R3, 0, 0, 16);
  a.emit(OP.LDXW, R4, R1, 4, 0);
  a.emit(OP.LDXW, R5, R1, 8, 0);
  // A request with no access bit we know of is denied rather than vacuously allowed.
  const known = {};
  a.emit(OP.JSET_K, R3, 0, 0, BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD, known);
  a.emit(OP.MOV32_K, R0, 0, 0, 0);
  a.emit(OP.EXIT, 0, 0, 0, 0);
  a.place(known);

  for (const [letter, bit] of ACCESS_BITS) {
    const nextBit: Label = {};
    const check: Label = {};
    a.emit(OP.JSET_K, R3, 0, 0, bit, check);
    a.emit(OP.JA, 0, 0, 0, 0, nextBit);
    a.place(check);
    let exhaustive = false;
    // Last rule first: the first match in the program is the last match in the spec.
    for (let i = rules.length - 1; i >= 0; i--) {
      const r = rules[i];
      if (!r.access.includes(letter)) continue;
      const nextRule: Label = {};
      let conditional = false;
      if (r.type !== 'a') {
        a.emit(OP.JNE_K, R2, 0, 0, r.type === 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, nextRule);
        conditional = true;
      }
      if (r.major >= 0) {
        a.emit(OP.JNE_K, R4, 0, 0, r.major, nextRule);
        conditional = true;
      }
      if (r.minor >= 0) {
        a.emit(OP.JNE_K, R5, 0, 0, r.minor, nextRule);
        conditional = true;
      }
      if (r.allow) a.emit(OP.JA, 0, 0, 0, 0, nextBit);
      else {
        a.emit(OP.MOV32_K, R0, 0, 0, 0);
        a.emit(OP.EXIT, 0, 0, 0, 0);
      }
      a.place(nextRule);
      if (!conditional) {
        // Matches every device: earlier rules can never be reached for this bit, and emitting them (or the
        // default below) would leave unreachable instructions, which the verifier rejects.
        exhaustive = true;
        break;
      }
    }
    if (!exhaustive) {
      a.emit(OP.MOV32_K, R0, 0, 0, 0); // default deny
      a.emit(OP.EXIT, 0, 0, 0, 0);
    }
    a.place(nextBit);
  }
  a.emit(OP.MOV32_K, R0, 0, 0, 1);
  a.emit(OP.EXIT, 0, 0, 0, 0);
  return a.resolve();
}

/** struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; } in host byte order. */
export function encodeInsns(insns: readonly BpfInsn[], endianness: 'LE' | 'BE' = os.endianness()): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((x, i) => {
    const o = i * 8;
    buf.writeUInt8(x.code, o);
    // Bitfields are allocated from the least significant bit on little-endian ABIs, from the most on big-endian.
    buf.writeUInt8(endianness === 'LE' ? (x.src << 4) | x.dst : (x.dst << 4) | x.src, o + 1);
    if (endianness === 'LE') {
      buf.writeInt16LE(x.off, o + 2);
      buf.writeInt32LE(x.imm, o + 4);
    } else {
      buf.writeInt16BE(x.off, o + 2);
      buf.writeInt32BE(x.imm, o + 4);
    }
  });
  return buf;
}

export function decodeInsns(buf: Buffer, endianness: 'LE' | 'BE' = os.endianness()): BpfInsn[] {
  const out: BpfInsn[] = [];
  for (let o = 0; o + 8 <= buf.length; o += 8) {
    const regs = buf.readUInt8(o + 1);
    out.push({
      code: buf.readUInt8(o),
      dst: endianness === 'LE' ? regs & 0xf : regs >> 4,
      src: endianness === 'LE' ? regs >> 4 : regs & 0xf,
      off: endianness === 'LE' ? buf.readInt16LE(o + 2) : buf.readInt16BE(o + 2),
      imm: endianness === 'LE' ? buf.readInt32LE(o + 4) : buf.readInt32BE(o + 4),
    });
  }
  return out;
}

/** The eBPF device program for `rules` (validated like linux.resources.devices), as a bpf_insn array. */
export function compileDeviceProgram(rules: readonly DeviceCgroupRule[]): Buffer {
  return encodeInsns(deviceProgramInsns(normalizeDeviceRules(rules)));
}
