/**
 * OCI `linux.seccomp` -> classic BPF program for seccomp(SECCOMP_SET_MODE_FILTER). berth-init only loads the
 * bytes; every decision is made here. Semantics follow runc + libseccomp where the two define them:
 *
 * - The filter always covers the native architecture plus every listed one (libseccomp's context starts
 *   with the native arch and runc only adds to it). Any other seccomp_data.arch gets the bad-arch action.
 * - x32 shares AUDIT_ARCH_X86_64 with x86_64 and is told apart by __X32_SYSCALL_BIT in the syscall number;
 *   an x86_64 filter sends x32 syscalls to the bad-arch action unless SCMP_ARCH_X32 is listed.
 * - Rules whose action (and errno) equals the default action are dropped, as runc does.
 * - Unknown syscall names are skipped with a warning, so one profile works across kernels and arches.
 * - Like runc's patchbpf, when the default action denies, syscalls numbered above the highest one the
 *   profile names (per listed arch) return ENOSYS, so libc falls back from syscalls newer than the profile.
 * - Within one syscall the rules are tried in profile order and the first whose conditions all hold wins;
 *   several conditions on the same argument index are ANDed like any others (libseccomp semantics;
 *   runc instead splits such a rule into one rule per condition, i.e. ORs them).
 * - Argument comparisons are unsigned 64-bit on 64-bit arches; on 32-bit arches (including x32, as in
 *   libseccomp) only the low word is compared.
 */
import { BerthError, invalid } from '../../common/errors';
import type { Seccomp, SeccompAction, SeccompArch, SeccompArg, SeccompOperator } from '../spec/types';
import { AUDIT_ARCH, X32_SYSCALL_BIT, syscallTable } from './syscalls';
import { SECCOMP_FILTER_FLAGS } from './validate';

export interface CompileOptions {
  /** SCMP_ARCH_* name or Node's process.arch value; defaults to process.arch. */
  nativeArch?: string;
}

export interface CompiledSeccomp {
  /** struct sock_filter[]: 8 bytes each (u16 code, u8 jt, u8 jf, u32 k), little-endian, ready to load. */
  program: Buffer;
  /** SECCOMP_FILTER_FLAG_* bits for seccomp(2). */
  flags: number;
  warnings: string[];
}

/** BPF_MAXINSNS: the kernel refuses longer classic BPF programs. */
export const BPF_MAX_INSNS = 4096;

// SECCOMP_RET_* (linux/seccomp.h).
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

const EPERM = 1;
const ENOSYS = 38;

/**
 * Action for a seccomp_data.arch the filter does not cover. libseccomp's default (which runc keeps) is
 * SCMP_ACT_KILL, i.e. KILL_THREAD; we kill the whole process instead, since a process with one thread
 * killed mid-syscall is left in an undefined state and gains nothing from surviving.
 */
const BAD_ARCH_RET = SECCOMP_RET.KILL_PROCESS;

const NODE_ARCH: Readonly<Record<string, SeccompArch>> = {
  x64: 'SCMP_ARCH_X86_64',
  ia32: 'SCMP_ARCH_X86',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  riscv64: 'SCMP_ARCH_RISCV64',
  loong64: 'SCMP_ARCH_LOONGARCH64',
  s390x: 'SCMP_ARCH_S390X',
  ppc64: 'SCMP_ARCH_PPC64LE',
};

/**
 * The conditions of one rule, as runc applies them: all ANDed in one rule, unless an argument index appears
 * more than once — then every condition becomes a rule of its own (ORed), so profiles written for runc mean
 * the same here. Each condition keeps its position in `args` for error messages.
 */
function argGroups(args: readonly SeccompArg[]): [number, SeccompArg][][] {
  const indexed = args.map((a, j) => [j, a] as [number, SeccompArg]);
  const repeats = new Set(args.map((a) => a.index)).size < args.length;
  return repeats ? indexed.map((e) => [e]) : [indexed];
}

/** Architectures whose syscall arguments are 32-bit: only the low word of seccomp_data.args[i] is compared. */
const ARCH_32: ReadonlySet<SeccompArch> = new Set<SeccompArch>([
  'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_S390', 'SCMP_ARCH_PARISC',
]);

const AUDIT_ARCH_LE = 0x40000000;
const U32 = 0xffffffffn;

/** The SECCOMP_RET_* value for an action; `data` is the errno (ERRNO) or tracer message (TRACE). */
export function actionReturn(action: SeccompAction, data?: number): number {
  switch (action) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET.KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET.KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET.TRAP;
    case 'SCMP_ACT_ERRNO':
      return (SECCOMP_RET.ERRNO | ((data ?? EPERM) & 0xffff)) >>> 0;
    case 'SCMP_ACT_TRACE':
      // runc gives TRACE the same EPERM default as ERRNO.
      return (SECCOMP_RET.TRACE | ((data ?? EPERM) & 0xffff)) >>> 0;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET.LOG;
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET.ALLOW;
    case 'SCMP_ACT_NOTIFY':
      return SECCOMP_RET.USER_NOTIF;
  }
}

// ------------------------------------------------------------------------------------------- assembler

// Opcodes (linux/bpf_common.h, linux/filter.h).
const BPF_LD_W_ABS = 0x20;
const BPF_ALU_AND_K = 0x54;
const BPF_JMP_JA = 0x05;
const BPF_RET_K = 0x06;
const JMP_OPS = { jeq: 0x15, jgt: 0x25, jge: 0x35 } as const;
type JmpOp = keyof typeof JMP_OPS;
const MAX_JUMP = 255;

interface Label {
  readonly id: number;
}
/** null: the next instruction. */
type Target = Label | null;

type Node =
  | { kind: 'label'; label: Label }
  | { kind: 'ld'; k: number }
  | { kind: 'and'; k: number }
  | { kind: 'jmp'; op: JmpOp; k: number; jt: Target; jf: Target }
  | { kind: 'ja'; to: Label }
  | { kind: 'ret'; k: number };

type Insn = Exclude<Node, { kind: 'label' }>;
type ResolvedJmp = { kind: 'jmp'; op: JmpOp; k: number; jt: Label; jf: Label };

/**
 * Builds a program with symbolic forward jumps. build() lays it out and, where a conditional jump
 * would exceed 8 bits, puts a trampoline right behind it: a copy of the target when that is a `ret`
 * (same size, one jump fewer at run time), else a 32-bit `ja`.
 */
class Assembler {
  private readonly nodes: Node[] = [];
  private nextId = 0;

  label(): Label {
    return { id: this.nextId++ };
  }
  place(label: Label): void {
    this.nodes.push({ kind: 'label', label });
  }
  ld(offset: number): void {
    this.nodes.push({ kind: 'ld', k: offset });
  }
  and(k: number): void {
    this.nodes.push({ kind: 'and', k });
  }
  jmp(op: JmpOp, k: number, jt: Target, jf: Target): void {
    this.nodes.push({ kind: 'jmp', op, k, jt, jf });
  }
  ret(k: number): void {
    this.nodes.push({ kind: 'ret', k });
  }

  /** Final layout: explicit labels everywhere, trampolines inserted until every jump fits in 8 bits. */
  private layout(): Node[] {
    // Make fall-through explicit, so that trampolines inserted after a jump do not capture it.
    let nodes: Node[] = [];
    for (const n of this.nodes) {
      if (n.kind === 'jmp' && (n.jt === null || n.jf === null)) {
        const next = this.label();
        nodes.push({ ...n, jt: n.jt ?? next, jf: n.jf ?? next });
        nodes.push({ kind: 'label', label: next });
      } else {
        nodes.push(n);
      }
    }
    // Inserting trampolines lengthens other jumps, so repeat until nothing changes; each jump gets at most
    // two trampolines, which bounds the loop.
    for (;;) {
      const { pos, insns } = positions(nodes);
      const out: Node[] = [];
      let grown = false;
      let pc = 0;
      for (const n of nodes) {
        out.push(n);
        if (n.kind === 'label') continue;
        const here = pc++;
        if (n.kind !== 'jmp') continue;
        const j = n as ResolvedJmp;
        for (const branch of ['jt', 'jf'] as const) {
          const to = pos(j[branch]);
          if (to - here - 1 <= MAX_JUMP) continue;
          const far = insns[to];
          const hop = this.label();
          out.push({ kind: 'label', label: hop });
          out.push(far.kind === 'ret' ? { kind: 'ret', k: far.k } : { kind: 'ja', to: j[branch] });
          j[branch] = hop;
          grown = true;
        }
      }
      nodes = out;
      if (!grown) return nodes;
    }
  }

  /** Lays out, checks the kernel's size limit and encodes as struct sock_filter[]. */
  build(): Buffer {
    const nodes = this.layout();
    const { pos, insns } = positions(nodes);
    if (insns.length > BPF_MAX_INSNS) {
      throw invalid(
        'linux.seccomp',
        `compiled filter has ${insns.length} BPF instructions, more than the kernel limit of ${BPF_MAX_INSNS}; reduce the number of rules or architectures`,
      );
    }
    const buf = Buffer.alloc(insns.length * 8);
    insns.forEach((n, i) => {
      const rel = (l: Target): number => pos(l as Label) - i - 1;
      let code: number;
      let jt = 0;
      let jf = 0;
      let k: number;
      switch (n.kind) {
        case 'ld': code = BPF_LD_W_ABS; k = n.k; break;
        case 'and': code = BPF_ALU_AND_K; k = n.k; break;
        case 'ret': code = BPF_RET_K; k = n.k; break;
        case 'ja': code = BPF_JMP_JA; k = rel(n.to); break;
        case 'jmp': code = JMP_OPS[n.op]; k = n.k; jt = rel(n.jt); jf = rel(n.jf); break;
      }
      if (jt < 0 || jf < 0 || jt > MAX_JUMP || jf > MAX_JUMP || k < 0) throw new Error(`seccomp compiler: bad jump at ${i}`);
      const o = i * 8;
      buf.writeUInt16LE(code, o);
      buf.writeUInt8(jt, o + 2);
      buf.writeUInt8(jf, o + 3);
      buf.writeUInt32LE(k >>> 0, o + 4);
    });
    if (insns.length === 0 || insns[insns.length - 1].kind !== 'ret') throw new Error('seccomp compiler: program must end with ret');
    return buf;
  }
}

/** Instruction index of every label, and the instructions alone. */
function positions(nodes: Node[]): { pos: (l: Label) => number; insns: Insn[] } {
  const at = new Map<number, number>();
  const insns: Insn[] = [];
  for (const n of nodes) {
    if (n.kind === 'label') at.set(n.label.id, insns.length);
    else insns.push(n);
  }
  const pos = (l: Label): number => {
    const p = at.get(l.id);
    if (p === undefined || p >= insns.length) throw new Error(`seccomp compiler: label ${l.id} not placed before an instruction`);
    return p;
  };
  return { pos, insns };
}

// ------------------------------------------------------------------------------------------- compiler

interface Cmp {
  index: number;
  op: SeccompOperator;
  /** Operand, or the mask for MASKED_EQ. */
  a: bigint;
  /** Expected value for MASKED_EQ. */
  b: bigint;
}

interface Rule {
  ret: number;
  cmps: Cmp[];
}

interface ArchPlan {
  arch: SeccompArch;
  /** Syscall number -> rules, in profile order. */
  rules: Map<number, Rule[]>;
  /** Highest syscall number the profile names on this arch (ENOSYS stub), if listed and the default denies. */
  enosysAbove?: number;
  bits: 32 | 64;
  littleEndian: boolean;
}

const LEAF = 8;

function resolveNative(native: string | undefined): SeccompArch {
  const name = native ?? process.arch;
  if (Object.hasOwn(AUDIT_ARCH, name)) return name as SeccompArch;
  const mapped = NODE_ARCH[name];
  if (!mapped) throw invalid('nativeArch', `unknown architecture "${name}"`);
  return mapped;
}

const big = (v: number | bigint | undefined): bigint => (v === undefined ? 0n : BigInt(v));

/** Constant-folds a comparison for the argument width: true/false when it cannot depend on the argument. */
function fold(c: Cmp, max: bigint): boolean | undefined {
  switch (c.op) {
    case 'SCMP_CMP_GT': return c.a >= max ? false : undefined;
    case 'SCMP_CMP_GE': return c.a === 0n ? true : undefined;
    case 'SCMP_CMP_LT': return c.a === 0n ? false : undefined;
    case 'SCMP_CMP_LE': return c.a >= max ? true : undefined;
    case 'SCMP_CMP_MASKED_EQ':
      if ((c.b & ~c.a) !== 0n) return false; // expects bits the mask clears
      return c.a === 0n ? true : undefined;
    default: return undefined;
  }
}

class Compiler {
  readonly asm = new Assembler();

  constructor(private readonly defaultRet: number) {}

  /** Emits code that falls through when `c` holds for the arch's argument layout and jumps to `fail` otherwise. */
  cmp(c: Cmp, plan: ArchPlan, fail: Label): void {
    const a = this.asm;
    const base = 16 + 8 * c.index;
    const lo = base + (plan.littleEndian ? 0 : 4);
    const hi = base + (plan.littleEndian ? 4 : 0);
    const aLo = Number(c.a & U32);
    const aHi = Number(c.a >> 32n);
    const bLo = Number(c.b & U32);
    const bHi = Number(c.b >> 32n);

    /** One 32-bit word compare: true -> next, false -> fail. */
    const word = (op: SeccompOperator, v: number, mask: number, expect: number): void => {
      switch (op) {
        case 'SCMP_CMP_EQ': a.jmp('jeq', v, null, fail); break;
        case 'SCMP_CMP_NE': a.jmp('jeq', v, fail, null); break;
        case 'SCMP_CMP_GT': a.jmp('jgt', v, null, fail); break;
        case 'SCMP_CMP_GE': a.jmp('jge', v, null, fail); break;
        case 'SCMP_CMP_LT': a.jmp('jge', v, fail, null); break;
        case 'SCMP_CMP_LE': a.jmp('jgt', v, fail, null); break;
        case 'SCMP_CMP_MASKED_EQ':
          if (mask !== 0xffffffff) a.and(mask);
          a.jmp('jeq', expect, null, fail);
          break;
      }
    };

    if (plan.bits === 32) {
      a.ld(lo);
      word(c.op, aLo, aLo, bLo);
      return;
    }

    const pass = a.label();
    switch (c.op) {
      case 'SCMP_CMP_EQ':
        a.ld(hi); a.jmp('jeq', aHi, null, fail);
        a.ld(lo); a.jmp('jeq', aLo, null, fail);
        break;
      case 'SCMP_CMP_NE':
        // Differs in either word.
        a.ld(hi); a.jmp('jeq', aHi, null, pass);
        a.ld(lo); a.jmp('jeq', aLo, fail, null);
        break;
      case 'SCMP_CMP_GT':
      case 'SCMP_CMP_GE': {
        // hi > aHi: true; hi < aHi: false; equal: decided by the low word.
        a.ld(hi);
        if (aHi === 0) {
          a.jmp('jeq', 0, null, pass);
        } else {
          a.jmp('jgt', aHi, pass, null);
          a.jmp('jeq', aHi, null, fail);
        }
        a.ld(lo);
        word(c.op, aLo, 0, 0);
        break;
      }
      case 'SCMP_CMP_LT':
      case 'SCMP_CMP_LE': {
        // hi > aHi: false; hi < aHi: true; equal: decided by the low word.
        a.ld(hi);
        if (aHi === 0) {
          a.jmp('jeq', 0, null, fail);
        } else {
          a.jmp('jgt', aHi, fail, null);
          a.jmp('jeq', aHi, null, pass);
        }
        a.ld(lo);
        word(c.op, aLo, 0, 0);
        break;
      }
      case 'SCMP_CMP_MASKED_EQ':
        // A word whose mask is zero always matches here (fold() already rejected impossible expectations).
        if (aHi !== 0) { a.ld(hi); word(c.op, 0, aHi, bHi); }
        if (aLo !== 0) { a.ld(lo); word(c.op, 0, aLo, bLo); }
        break;
    }
    a.place(pass);
  }

  /** The rules of one syscall: tried in order, falling back to the default action. */
  rules(rules: Rule[], plan: ArchPlan): void {
    const a = this.asm;
    for (const rule of rules) {
      const fail = a.label();
      for (const c of rule.cmps) this.cmp(c, plan, fail);
      a.ret(rule.ret);
      a.place(fail);
      if (rule.cmps.length === 0) return; // later rules are unreachable (pruned already, kept for safety)
    }
    a.ret(this.defaultRet);
  }

  /** Binary search on the syscall number (in A), with short linear JEQ chains at the leaves. */
  tree(entries: [number, Rule[]][], plan: ArchPlan): void {
    const a = this.asm;
    if (entries.length > LEAF) {
      const mid = entries.length >> 1;
      const right = a.label();
      a.jmp('jge', entries[mid][0], right, null);
      this.tree(entries.slice(0, mid), plan);
      a.place(right);
      this.tree(entries.slice(mid), plan);
      return;
    }
    const rets = new Map<number, Label>();
    const retLabel = (k: number): Label => {
      let l = rets.get(k);
      if (!l) rets.set(k, (l = a.label()));
      return l;
    };
    const dflt = retLabel(this.defaultRet);
    const blocks: [Label, Rule[]][] = [];
    entries.forEach(([nr, rules], i) => {
      let to: Label;
      if (rules.length === 1 && rules[0].cmps.length === 0) {
        to = retLabel(rules[0].ret);
      } else {
        to = a.label();
        blocks.push([to, rules]);
      }
      a.jmp('jeq', nr, to, i === entries.length - 1 ? dflt : null);
    });
    for (const [k, l] of rets) {
      a.place(l);
      a.ret(k);
    }
    for (const [l, rules] of blocks) {
      a.place(l);
      this.rules(rules, plan);
    }
  }

  /** Code for one arch (syscall number already in A), or the bad-arch action when it is not covered. */
  arch(plan: ArchPlan | undefined): void {
    const a = this.asm;
    if (!plan) {
      a.ret(BAD_ARCH_RET);
      return;
    }
    if (plan.enosysAbove !== undefined) {
      const go = a.label();
      a.jmp('jgt', plan.enosysAbove, null, go);
      a.ret(actionReturn('SCMP_ACT_ERRNO', ENOSYS));
      a.place(go);
    }
    const entries = [...plan.rules].sort((x, y) => x[0] - y[0]);
    if (entries.length === 0) {
      a.ret(this.defaultRet);
      return;
    }
    this.tree(entries, plan);
  }
}

/** Compiles a validated seccomp configuration (see parseSeccomp) into a loadable BPF program. */
export function compileSeccomp(seccomp: Seccomp, opts: CompileOptions = {}): CompiledSeccomp {
  const native = resolveNative(opts.nativeArch);
  const warnings: string[] = [];
  const defaultRet = actionReturn(seccomp.defaultAction, seccomp.defaultErrnoRet);
  const listed = seccomp.architectures ?? [];
  const effective = [...new Set<SeccompArch>([native, ...listed])];

  // runc skips its ENOSYS stub when the default action already lets syscalls through (or is ENOSYS).
  const permissive = ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'].includes(seccomp.defaultAction);
  const stub = !permissive && defaultRet !== actionReturn('SCMP_ACT_ERRNO', ENOSYS);

  const plans = new Map<SeccompArch, ArchPlan>();
  for (const arch of effective) {
    if (!syscallTable(arch)) {
      if (arch === native) throw new BerthError('Unimplemented', `no syscall table for the native architecture ${arch}`);
      warnings.push(`linux.seccomp.architectures: no syscall table for ${arch} in berth-run; processes of that architecture get the bad-architecture action (KILL_PROCESS)`);
      continue;
    }
    plans.set(arch, {
      arch,
      rules: new Map(),
      bits: ARCH_32.has(arch) ? 32 : 64,
      littleEndian: (AUDIT_ARCH[arch] & AUDIT_ARCH_LE) !== 0,
    });
  }

  const unknown = new Set<string>();
  const truncated = new Set<string>();
  const maxNr = new Map<SeccompArch, number>();
  (seccomp.syscalls ?? []).forEach((call, i) => {
    const ret = actionReturn(call.action, call.errnoRet);
    for (const name of call.names) {
      let known = false;
      for (const plan of plans.values()) {
        const nr = syscallTable(plan.arch)!.get(name);
        if (nr === undefined) continue;
        known = true;
        maxNr.set(plan.arch, Math.max(maxNr.get(plan.arch) ?? 0, nr));
        if (ret === defaultRet) continue; // redundant with the default action (runc drops these too)
        const max = plan.bits === 32 ? U32 : 2n ** 64n - 1n;
        for (const group of argGroups(call.args ?? [])) {
          const cmps: Cmp[] = [];
          let never = false;
          for (const [j, arg] of group) {
            let c: Cmp = { index: arg.index, op: arg.op, a: big(arg.value), b: big(arg.valueTwo) };
            if (c.a > max || c.b > max) {
              truncated.add(`linux.seccomp.syscalls[${i}].args[${j}]`);
              c = { ...c, a: c.a & max, b: c.b & max };
            }
            const f = fold(c, max);
            if (f === false) never = true;
            else if (f === undefined) cmps.push(c);
          }
          if (never) continue;
          const list = plan.rules.get(nr) ?? [];
          // Nothing after an unconditional rule can match.
          if (list.length > 0 && list[list.length - 1].cmps.length === 0) continue;
          list.push({ ret, cmps });
          plan.rules.set(nr, list);
        }
      }
      if (!known) unknown.add(name);
    }
  });
  for (const plan of plans.values()) {
    if (stub && listed.includes(plan.arch) && maxNr.has(plan.arch)) plan.enosysAbove = maxNr.get(plan.arch);
  }
  if (unknown.size > 0) {
    const archNames = [...plans.keys()].map((a) => a.replace('SCMP_ARCH_', '').toLowerCase()).join(', ');
    warnings.push(`linux.seccomp.syscalls: skipped syscalls unknown on ${archNames}: ${[...unknown].join(', ')}`);
  }
  if (truncated.size > 0) {
    warnings.push(`linux.seccomp.syscalls: values wider than 32 bits truncated for 32-bit architectures in ${[...truncated].join(', ')}`);
  }
  if ((seccomp.syscalls ?? []).some((s) => s.action === 'SCMP_ACT_NOTIFY')) {
    warnings.push('linux.seccomp: SCMP_ACT_NOTIFY without a listener makes those syscalls fail with ENOSYS');
  }

  let flags = 0;
  for (const f of seccomp.flags ?? []) {
    const bit = SECCOMP_FILTER_FLAGS[f];
    if (bit === undefined) throw invalid('linux.seccomp.flags', `unknown flag "${f}"`);
    if (f === 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV') {
      // The kernel rejects it without SECCOMP_FILTER_FLAG_NEW_LISTENER, which only NOTIFY would need.
      warnings.push('linux.seccomp.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: there is no notify listener');
      continue;
    }
    flags |= bit;
  }

  // Layout: dispatch on seccomp_data.arch (native first, the common case), then one block per AUDIT_ARCH.
  const c = new Compiler(defaultRet);
  const a = c.asm;
  const groups = new Map<number, Label>();
  for (const arch of plans.keys()) if (!groups.has(AUDIT_ARCH[arch])) groups.set(AUDIT_ARCH[arch], a.label());
  a.ld(4);
  for (const [audit, l] of groups) a.jmp('jeq', audit, l, null);
  a.ret(BAD_ARCH_RET);
  for (const [audit, l] of groups) {
    a.place(l);
    a.ld(0);
    if (audit === AUDIT_ARCH.SCMP_ARCH_X86_64) {
      const x32 = a.label();
      a.jmp('jge', X32_SYSCALL_BIT, x32, null);
      c.arch(plans.get('SCMP_ARCH_X86_64'));
      a.place(x32);
      c.arch(plans.get('SCMP_ARCH_X32'));
    } else {
      c.arch([...plans.values()].find((p) => AUDIT_ARCH[p.arch] === audit));
    }
  }

  const program = a.build();
  return { program, flags, warnings };
}
