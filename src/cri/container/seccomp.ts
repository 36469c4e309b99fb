/**
 * Which seccomp filter a container gets: the `seccomp` SecurityProfile, else the deprecated
 * `seccomp_profile_path` string; RuntimeDefault is berthd's own profile, Localhost a JSON file on the node (in
 * OCI form or in moby's form with archMap and includes/excludes, as containerd accepts). The runtime validates
 * the result in full when it creates the container; here only what is needed to name the CRI field is checked.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { invalid } from '../../common/errors';
import { parseJson } from '../../common/json';
import type { Seccomp, SeccompArch, SeccompSyscall } from '../../oci';
import type { LinuxContainerSecurityContext, SecurityProfile } from '../types';
import { defaultSeccompProfile } from './seccomp-default';
import { SC } from './security';

export interface SeccompOptions {
  /** Bounding capabilities of the container: the default profile and `includes.caps` depend on them. */
  caps: readonly string[];
  /** Base of Localhost profiles given as relative paths. */
  profileRoot?: string;
  /** process.arch of the node (default: this process'). */
  arch?: string;
  /** uname release, for moby profiles' `minKernel` (default: os.release()). */
  kernel?: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** moby profiles say `arches` in Go's names. */
const GOARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64', loong64: 'loong64' };
/** …and `archMap` in SCMP names: the native entry per Node arch. */
const NATIVE: Readonly<Record<string, SeccompArch>> = { x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', ia32: 'SCMP_ARCH_X86', arm: 'SCMP_ARCH_ARM', s390x: 'SCMP_ARCH_S390X', ppc64: 'SCMP_ARCH_PPC64LE', riscv64: 'SCMP_ARCH_RISCV64', loong64: 'SCMP_ARCH_LOONGARCH64' };

function fromPath(s: string): SecurityProfile {
  // Unset means unconfined: containerd's default (its unset_seccomp_profile is "").
  if (s === '' || s === 'unconfined') return { profileType: 'Unconfined', localhostRef: '' };
  if (s === 'runtime/default' || s === 'docker/default') return { profileType: 'RuntimeDefault', localhostRef: '' };
  if (s.startsWith('localhost/')) return { profileType: 'Localhost', localhostRef: s.slice('localhost/'.length) };
  throw invalid(`${SC}.seccomp_profile_path`, `"${s}" is none of runtime/default, docker/default, unconfined, localhost/<path>`);
}

/** The seccomp section for the spec, or undefined for none (unconfined, and always when privileged). */
export function seccompFor(sc: LinuxContainerSecurityContext | null, privileged: boolean, opts: SeccompOptions): Seccomp | undefined {
  if (privileged) return undefined;
  const profile = sc?.seccomp ?? fromPath(sc?.seccompProfilePath ?? '');
  const arch = opts.arch ?? process.arch;
  switch (profile.profileType) {
    case 'Unconfined':
      return undefined;
    case 'Localhost': {
      const field = sc?.seccomp ? `${SC}.seccomp.localhost_ref` : `${SC}.seccomp_profile_path`;
      return loadLocalhost(profile.localhostRef, field, { ...opts, arch });
    }
    default:
      return defaultSeccompProfile(arch, opts.caps);
  }
}

function profilePath(ref: string, field: string, root: string | undefined): string {
  if (ref === '') throw invalid(field, 'names no profile');
  if (path.isAbsolute(ref)) return ref;
  if (!root) throw invalid(field, `"${ref}" is relative and berthd has no seccomp profile root`);
  const p = path.resolve(root, ref);
  if (p !== root && !p.startsWith(root.endsWith('/') ? root : `${root}/`)) throw invalid(field, `"${ref}" leaves the seccomp profile root`);
  return p;
}

function loadLocalhost(ref: string, field: string, opts: SeccompOptions & { arch: string }): Seccomp {
  const p = profilePath(ref, field, opts.profileRoot && path.resolve(opts.profileRoot));
  let text: string;
  try {
    text = fs.readFileSync(p, 'utf8');
  } catch (err) {
    throw invalid(field, `cannot read the seccomp profile ${p}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseJson(text);
  } catch (err) {
    throw invalid(field, `the seccomp profile ${p} is not JSON: ${(err as Error).message}`);
  }
  return toOci(raw, `${field} (${p})`, opts);
}

/** "5.8" ≤ "6.1.0-18-amd64"? */
function kernelAtLeast(min: string, release: string): boolean {
  const nums = (s: string) => (/^(\d+)(?:\.(\d+))?/.exec(s) ?? []).slice(1).map((x) => Number(x ?? 0));
  const [a1 = 0, a2 = 0] = nums(min);
  const [b1 = 0, b2 = 0] = nums(release);
  return b1 !== a1 ? b1 > a1 : b2 >= a2;
}

/** moby's per-rule conditions: every `includes` must hold and no `excludes` may. */
function applies(rule: Json, opts: SeccompOptions & { arch: string }): boolean {
  const goarch = GOARCH[opts.arch] ?? opts.arch;
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const inc = isObject(rule.includes) ? rule.includes : {};
  const exc = isObject(rule.excludes) ? rule.excludes : {};
  if (strings(inc.arches).length > 0 && !strings(inc.arches).includes(goarch)) return false;
  if (!strings(inc.caps).every((c) => opts.caps.includes(c))) return false;
  if (typeof inc.minKernel === 'string' && !kernelAtLeast(inc.minKernel, opts.kernel ?? os.release())) return false;
  if (strings(exc.arches).includes(goarch)) return false;
  if (strings(exc.caps).some((c) => opts.caps.includes(c))) return false;
  return true;
}

/** A Localhost profile as the spec's Seccomp: the OCI fields copied, moby's folded in. */
function toOci(raw: unknown, where: string, opts: SeccompOptions & { arch: string }): Seccomp {
  if (!isObject(raw)) throw invalid(where, 'a seccomp profile must be a JSON object');
  if (typeof raw.defaultAction !== 'string') throw invalid(`${where}.defaultAction`, 'must be a string such as SCMP_ACT_ERRNO');
  const out = { defaultAction: raw.defaultAction } as Seccomp;
  for (const k of ['defaultErrnoRet', 'flags', 'listenerPath', 'listenerMetadata', 'architectures'] as const) {
    if (raw[k] !== undefined && raw[k] !== null) (out as unknown as Json)[k] = raw[k];
  }
  if (Array.isArray(raw.archMap) && out.architectures === undefined) {
    // Only the native entry counts (its subArchitectures are the compat ones), as moby reads it.
    const native = NATIVE[opts.arch];
    const entry = raw.archMap.find((e): e is Json => isObject(e) && e.architecture === native);
    if (entry) out.architectures = [native, ...(Array.isArray(entry.subArchitectures) ? (entry.subArchitectures as SeccompArch[]) : [])];
  }
  if (raw.syscalls !== undefined && raw.syscalls !== null) {
    if (!Array.isArray(raw.syscalls)) throw invalid(`${where}.syscalls`, 'must be an array');
    out.syscalls = [];
    raw.syscalls.forEach((s: unknown, i) => {
      if (!isObject(s)) throw invalid(`${where}.syscalls[${i}]`, 'must be an object');
      if (!applies(s, opts)) return;
      const names = Array.isArray(s.names) ? s.names : typeof s.name === 'string' ? [s.name] : [];
      const call = { names, action: s.action } as SeccompSyscall;
      if (s.errnoRet !== undefined && s.errnoRet !== null) call.errnoRet = s.errnoRet as number;
      if (Array.isArray(s.args) && s.args.length > 0) call.args = s.args as SeccompSyscall['args'];
      out.syscalls!.push(call);
    });
  }
  return out;
}
