#!/usr/bin/env node
/*
 * Generates src/oci/seccomp/syscalls.ts: syscall name -> number tables per seccomp architecture, and the
 * AUDIT_ARCH_* value of every SCMP_ARCH_* name, from this machine's kernel UAPI headers (linux-libc-dev):
 *
 *   x86_64  <asm/unistd_64.h>     x86  <asm/unistd_32.h>     x32  <asm/unistd_x32.h>
 *   aarch64, riscv64              <asm-generic/unistd.h>, evaluated with each arch's __ARCH_WANT_* set
 *   AUDIT_ARCH_*                  <linux/audit.h> + <linux/elf-em.h>
 *
 * The headers are C, so this runs a small preprocessor (#if/#ifdef/#elif/#else/#endif, object-like
 * #define/#undef, integer expressions with defined()) rather than grepping, because asm-generic/unistd.h
 * only yields the right table once its conditionals and the __NR3264_* aliases are resolved.
 *
 * Usage: node hack/gen-syscalls.js [--include /usr/include] [--out src/oci/seccomp/syscalls.ts] [--check]
 *   --check  exits 1 if the output file differs from what would be generated (for CI).
 */
'use strict';

const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const INCLUDE = opt('--include', '/usr/include');
const OUT = opt('--out', path.join(__dirname, '..', 'src', 'oci', 'seccomp', 'syscalls.ts'));
const CHECK = args.includes('--check');

const X32_SYSCALL_BIT = 0x40000000;

function readHeader(rel) {
  const candidates = [path.join(INCLUDE, rel), path.join(INCLUDE, 'x86_64-linux-gnu', rel)];
  for (const file of candidates) if (fs.existsSync(file)) return { file, text: fs.readFileSync(file, 'utf8') };
  throw new Error(`header ${rel} not found under ${INCLUDE} (install linux-libc-dev)`);
}

// ---------------------------------------------------------------- expressions

/** Tokens of a C integer expression: identifiers, integer literals, operators. */
function tokenize(expr) {
  const re = /\s*(?:([A-Za-z_]\w*)|(0[xX][0-9a-fA-F]+|\d+)[uUlL]*|(\|\||&&|==|!=|<=|>=|<<|>>|[()!~|&^+\-*<>]))/y;
  const out = [];
  let m;
  re.lastIndex = 0;
  while (re.lastIndex < expr.length) {
    if (/^\s*$/.test(expr.slice(re.lastIndex))) break;
    const at = re.lastIndex;
    m = re.exec(expr);
    if (!m) throw new Error(`cannot tokenize "${expr}" at ${at}`);
    if (m[1]) out.push({ t: 'id', v: m[1] });
    else if (m[2]) out.push({ t: 'num', v: BigInt(m[2]) });
    else out.push({ t: 'op', v: m[3] });
  }
  return out;
}

/**
 * Evaluates an integer expression. `lookup(name)` returns the macro body (string) or undefined; undefined
 * identifiers are 0 as in #if. BigInt keeps 32-bit unsigned constants such as AUDIT_ARCH_* exact.
 */
function evaluate(expr, lookup, depth = 0) {
  if (depth > 32) throw new Error(`macro recursion too deep in "${expr}"`);
  const toks = tokenize(expr);
  let i = 0;
  const peek = () => toks[i];
  const isOp = (v) => toks[i] && toks[i].t === 'op' && toks[i].v === v;
  const expect = (v) => {
    if (!isOp(v)) throw new Error(`expected "${v}" in "${expr}"`);
    i++;
  };
  const bool = (b) => (b ? 1n : 0n);
  const levels = [
    ['||'], ['&&'], ['|'], ['^'], ['&'], ['==', '!='], ['<', '>', '<=', '>='], ['<<', '>>'], ['+', '-'], ['*'],
  ];
  const apply = (op, a, b) => {
    switch (op) {
      case '||': return bool(a !== 0n || b !== 0n);
      case '&&': return bool(a !== 0n && b !== 0n);
      case '|': return a | b;
      case '^': return a ^ b;
      case '&': return a & b;
      case '==': return bool(a === b);
      case '!=': return bool(a !== b);
      case '<': return bool(a < b);
      case '>': return bool(a > b);
      case '<=': return bool(a <= b);
      case '>=': return bool(a >= b);
      case '<<': return a << b;
      case '>>': return a >> b;
      case '+': return a + b;
      case '-': return a - b;
      case '*': return a * b;
    }
    throw new Error(`operator ${op}`);
  };
  const binary = (lvl) => {
    if (lvl === levels.length) return unary();
    let left = binary(lvl + 1);
    while (peek() && peek().t === 'op' && levels[lvl].includes(peek().v)) {
      const op = toks[i++].v;
      left = apply(op, left, binary(lvl + 1));
    }
    return left;
  };
  const unary = () => {
    if (isOp('!')) { i++; return bool(unary() === 0n); }
    if (isOp('-')) { i++; return -unary(); }
    if (isOp('~')) { i++; return ~unary(); }
    if (isOp('(')) { i++; const v = binary(0); expect(')'); return v; }
    const tok = toks[i++];
    if (!tok) throw new Error(`unexpected end of "${expr}"`);
    if (tok.t === 'num') return tok.v;
    if (tok.t === 'id') {
      if (tok.v === 'defined') {
        const paren = isOp('(');
        if (paren) i++;
        const name = toks[i++];
        if (!name || name.t !== 'id') throw new Error(`defined() without a name in "${expr}"`);
        if (paren) expect(')');
        return bool(lookup(name.v) !== undefined);
      }
      const body = lookup(tok.v);
      if (body === undefined || body.trim() === '') return 0n;
      return evaluate(body, lookup, depth + 1);
    }
    throw new Error(`unexpected "${tok.v}" in "${expr}"`);
  };
  const v = binary(0);
  if (i !== toks.length) throw new Error(`trailing tokens in "${expr}"`);
  return v;
}

// ---------------------------------------------------------------- preprocessor

/** Logical lines of a header: comments removed, backslash continuations joined. */
function logicalLines(text) {
  const noComments = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, '');
  return noComments.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
}

/**
 * Runs the conditional-compilation part of the C preprocessor over `text` starting from `predefined`
 * (name -> body) and returns every object-like macro defined at the end. Function-like macros are
 * recorded as defined (for #ifdef) with an empty body; #include is not followed.
 */
function preprocess(text, predefined) {
  const macros = new Map(Object.entries(predefined));
  const lookup = (name) => macros.get(name);
  // Stack of { active: is this branch taken, taken: has any branch of this #if been taken, parent: enclosing active }.
  const stack = [];
  const active = () => stack.every((s) => s.active);
  for (const raw of logicalLines(text)) {
    const line = raw.trim();
    if (!line.startsWith('#')) continue;
    const m = /^#\s*(\w+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, dir, rest] = m;
    switch (dir) {
      case 'ifdef':
      case 'ifndef': {
        const def = macros.has(rest.trim().split(/\s+/)[0]);
        const on = dir === 'ifdef' ? def : !def;
        stack.push({ active: on, taken: on });
        break;
      }
      case 'if': {
        const on = active() ? evaluate(rest, lookup) !== 0n : false;
        stack.push({ active: on, taken: on });
        break;
      }
      case 'elif': {
        const top = stack[stack.length - 1];
        if (!top) throw new Error('#elif without #if');
        const parentOn = stack.slice(0, -1).every((s) => s.active);
        top.active = !top.taken && parentOn && evaluate(rest, lookup) !== 0n;
        top.taken = top.taken || top.active;
        break;
      }
      case 'else': {
        const top = stack[stack.length - 1];
        if (!top) throw new Error('#else without #if');
        top.active = !top.taken;
        top.taken = true;
        break;
      }
      case 'endif':
        if (!stack.pop()) throw new Error('#endif without #if');
        break;
      case 'define': {
        if (!active()) break;
        const d = /^([A-Za-z_]\w*)(\()?\s*(.*)$/.exec(rest);
        if (!d) throw new Error(`bad #define: ${line}`);
        macros.set(d[1], d[2] ? '' : d[3].trim());
        break;
      }
      case 'undef':
        if (active()) macros.delete(rest.trim());
        break;
      default:
        break; // #include, #error, #pragma: not needed for these headers
    }
  }
  if (stack.length) throw new Error('unterminated #if');
  return macros;
}

/** name -> number for every __NR_<name> macro (bookkeeping macros excluded). */
function syscallsFrom(macros, bias = 0) {
  const NOT_SYSCALLS = new Set(['syscalls', 'arch_specific_syscall']);
  const lookup = (n) => macros.get(n);
  const table = new Map();
  for (const [macro, body] of macros) {
    const m = /^__NR_(\w+)$/.exec(macro);
    if (!m || NOT_SYSCALLS.has(m[1])) continue;
    const nr = Number(evaluate(body, lookup)) - bias;
    if (!Number.isInteger(nr) || nr < 0 || nr > 0xffff) throw new Error(`__NR_${m[1]} = ${body}: not a plausible syscall number`);
    table.set(m[1], nr);
  }
  return table;
}

// ---------------------------------------------------------------- tables

const tables = {};

tables.SCMP_ARCH_X86_64 = syscallsFrom(preprocess(readHeader('asm/unistd_64.h').text, {}));
tables.SCMP_ARCH_X86 = syscallsFrom(preprocess(readHeader('asm/unistd_32.h').text, {}));
// x32 numbers are stored without __X32_SYSCALL_BIT; syscalls.ts adds it back when parsing.
tables.SCMP_ARCH_X32 = syscallsFrom(
  preprocess(readHeader('asm/unistd_x32.h').text, { __X32_SYSCALL_BIT: String(X32_SYSCALL_BIT) }),
  X32_SYSCALL_BIT,
);

// The __ARCH_WANT_* sets are what arch/<arch>/include/uapi/asm/unistd.h defines before including
// asm-generic/unistd.h (Linux 6.1 - 6.10); the arch-specific extras are the ones that header adds after.
const generic = readHeader('asm-generic/unistd.h').text;
const GENERIC_ARCHES = {
  SCMP_ARCH_AARCH64: {
    defines: ['__ARCH_WANT_RENAMEAT', '__ARCH_WANT_NEW_STAT', '__ARCH_WANT_SET_GET_RLIMIT', '__ARCH_WANT_TIME32_SYSCALLS',
      '__ARCH_WANT_SYS_CLONE3', '__ARCH_WANT_MEMFD_SECRET'],
    extra: {},
  },
  SCMP_ARCH_RISCV64: {
    defines: ['__ARCH_WANT_NEW_STAT', '__ARCH_WANT_SET_GET_RLIMIT', '__ARCH_WANT_SYS_CLONE3', '__ARCH_WANT_MEMFD_SECRET'],
    extra: { __NR_riscv_hwprobe: '(__NR_arch_specific_syscall + 14)', __NR_riscv_flush_icache: '(__NR_arch_specific_syscall + 15)' },
  },
};
for (const [arch, { defines, extra }] of Object.entries(GENERIC_ARCHES)) {
  const pre = { __BITS_PER_LONG: '64' };
  for (const d of defines) pre[d] = '1';
  const macros = preprocess(generic, pre);
  for (const [k, v] of Object.entries(extra)) macros.set(k, v);
  tables[arch] = syscallsFrom(macros);
}

// Sanity checks against well-known numbers, so a header-format change fails here rather than in a container.
const expect = (arch, name, nr) => {
  const got = tables[arch].get(name);
  if (got !== nr) throw new Error(`${arch}: ${name} = ${got}, expected ${nr}`);
};
const absent = (arch, name) => {
  if (tables[arch].has(name)) throw new Error(`${arch}: ${name} should not exist`);
};
expect('SCMP_ARCH_X86_64', 'read', 0);
expect('SCMP_ARCH_X86_64', 'mkdir', 83);
expect('SCMP_ARCH_X86_64', 'clone3', 435);
expect('SCMP_ARCH_X86', 'mkdir', 39);
expect('SCMP_ARCH_X86', 'socketcall', 102);
expect('SCMP_ARCH_X32', 'rt_sigaction', 512);
expect('SCMP_ARCH_X32', 'mkdir', 83);
expect('SCMP_ARCH_AARCH64', 'openat', 56);
expect('SCMP_ARCH_AARCH64', 'renameat', 38);
expect('SCMP_ARCH_AARCH64', 'fstat', 80);
expect('SCMP_ARCH_AARCH64', 'mmap', 222);
expect('SCMP_ARCH_AARCH64', 'clone3', 435);
absent('SCMP_ARCH_AARCH64', 'open');
absent('SCMP_ARCH_AARCH64', 'clock_gettime64');
absent('SCMP_ARCH_AARCH64', 'fcntl64');
expect('SCMP_ARCH_RISCV64', 'riscv_flush_icache', 259);
absent('SCMP_ARCH_RISCV64', 'renameat');

// ---------------------------------------------------------------- AUDIT_ARCH

const SCMP_TO_AUDIT = {
  SCMP_ARCH_X86: 'I386', SCMP_ARCH_X86_64: 'X86_64', SCMP_ARCH_X32: 'X86_64', SCMP_ARCH_ARM: 'ARM',
  SCMP_ARCH_AARCH64: 'AARCH64', SCMP_ARCH_MIPS: 'MIPS', SCMP_ARCH_MIPS64: 'MIPS64', SCMP_ARCH_MIPS64N32: 'MIPS64N32',
  SCMP_ARCH_MIPSEL: 'MIPSEL', SCMP_ARCH_MIPSEL64: 'MIPSEL64', SCMP_ARCH_MIPSEL64N32: 'MIPSEL64N32', SCMP_ARCH_PPC: 'PPC',
  SCMP_ARCH_PPC64: 'PPC64', SCMP_ARCH_PPC64LE: 'PPC64LE', SCMP_ARCH_S390: 'S390', SCMP_ARCH_S390X: 'S390X',
  SCMP_ARCH_PARISC: 'PARISC', SCMP_ARCH_PARISC64: 'PARISC64', SCMP_ARCH_RISCV64: 'RISCV64',
  SCMP_ARCH_LOONGARCH64: 'LOONGARCH64',
};
const auditMacros = preprocess(readHeader('linux/elf-em.h').text + '\n' + readHeader('linux/audit.h').text, {});
const auditArch = {};
for (const [scmp, audit] of Object.entries(SCMP_TO_AUDIT)) {
  const name = `AUDIT_ARCH_${audit}`;
  if (!auditMacros.has(name)) throw new Error(`${name} missing from linux/audit.h`);
  auditArch[scmp] = Number(evaluate(name, (n) => auditMacros.get(n)) & 0xffffffffn);
}
if (auditArch.SCMP_ARCH_X86_64 !== 0xc000003e) throw new Error('AUDIT_ARCH_X86_64 mis-evaluated');

// ---------------------------------------------------------------- output

/** Names in number order; a bare number token sets the number of the next name (gaps, duplicates). */
function pack(table) {
  const entries = [...table].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  const out = [];
  let next = 0;
  for (const [name, nr] of entries) {
    if (nr !== next) out.push(String(nr));
    out.push(name);
    next = nr + 1;
  }
  return out.join(' ');
}

const version = /LINUX_VERSION_MAJOR (\d+)[\s\S]*LINUX_VERSION_PATCHLEVEL (\d+)[\s\S]*LINUX_VERSION_SUBLEVEL (\d+)/.exec(
  readHeader('linux/version.h').text,
);
const headerVersion = version ? `${version[1]}.${version[2]}.${version[3]}` : 'unknown';
const hex = (n) => '0x' + n.toString(16).padStart(8, '0');

const lines = [];
lines.push('// Code generated by `node hack/gen-syscalls.js`; DO NOT EDIT.');
lines.push(`// Source: Linux ${headerVersion} UAPI headers in ${INCLUDE} (asm/unistd_64.h, asm/unistd_32.h, asm/unistd_x32.h,`);
lines.push('// asm-generic/unistd.h for aarch64 and riscv64, linux/audit.h). Syscalls newer than those headers are unknown here');
lines.push('// and are skipped by the compiler with a warning; regenerate on a machine with newer headers to pick them up.');
lines.push('');
lines.push("import type { SeccompArch } from '../spec/types';");
lines.push('');
lines.push('/** Linux headers version the tables were generated from. */');
lines.push(`export const SYSCALL_HEADERS_VERSION = '${headerVersion}';`);
lines.push('');
lines.push('/** Set in every x32 syscall number; x32 shares AUDIT_ARCH_X86_64 with x86_64. */');
lines.push(`export const X32_SYSCALL_BIT = ${hex(X32_SYSCALL_BIT)};`);
lines.push('');
lines.push('/** seccomp_data.arch (AUDIT_ARCH_*) for every SCMP_ARCH_* name. */');
lines.push('export const AUDIT_ARCH: Readonly<Record<SeccompArch, number>> = {');
for (const [scmp, v] of Object.entries(auditArch)) lines.push(`  ${scmp}: ${hex(v)},`);
lines.push('};');
lines.push('');
lines.push('// Names in number order, space separated; a bare number sets the number of the following name. Kept as');
lines.push('// strings so that loading this module costs nothing until a table is actually needed.');
lines.push('const PACKED: Readonly<Partial<Record<SeccompArch, string>>> = {');
for (const [arch, table] of Object.entries(tables)) lines.push(`  ${arch}:\n    '${pack(table)}',`);
lines.push('};');
lines.push('');
lines.push('const BIAS: Readonly<Partial<Record<SeccompArch, number>>> = { SCMP_ARCH_X32: X32_SYSCALL_BIT };');
lines.push('const parsed = new Map<SeccompArch, ReadonlyMap<string, number>>();');
lines.push('');
lines.push('/** Architectures that have a syscall table here. */');
lines.push('export const SYSCALL_TABLE_ARCHES = Object.keys(PACKED) as readonly SeccompArch[];');
lines.push('');
lines.push('/** Syscall name -> number (as seen in seccomp_data.nr) for `arch`, or undefined when there is no table. */');
lines.push('export function syscallTable(arch: SeccompArch): ReadonlyMap<string, number> | undefined {');
lines.push('  const cached = parsed.get(arch);');
lines.push('  if (cached) return cached;');
lines.push('  const packed = PACKED[arch];');
lines.push('  if (packed === undefined) return undefined;');
lines.push('  const bias = BIAS[arch] ?? 0;');
lines.push('  const table = new Map<string, number>();');
lines.push('  let nr = 0;');
lines.push("  for (const tok of packed.split(' ')) {");
lines.push('    const c = tok.charCodeAt(0);');
lines.push('    if (c >= 48 && c <= 57) {');
lines.push('      nr = Number(tok);');
lines.push('    } else {');
lines.push('      table.set(tok, bias + nr);');
lines.push('      nr++;');
lines.push('    }');
lines.push('  }');
lines.push('  parsed.set(arch, table);');
lines.push('  return table;');
lines.push('}');
lines.push('');

const output = lines.join('\n');
if (CHECK) {
  const current = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
  if (current !== output) {
    console.error(`${OUT} is out of date; run node hack/gen-syscalls.js`);
    process.exit(1);
  }
  process.exit(0);
}
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, output);
const counts = Object.entries(tables).map(([a, t]) => `${a.replace('SCMP_ARCH_', '').toLowerCase()}=${t.size}`).join(' ');
console.log(`wrote ${path.relative(process.cwd(), OUT)} (Linux ${headerVersion} headers: ${counts})`);
