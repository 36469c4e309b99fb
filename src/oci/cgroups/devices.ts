import { invalid } from '../../common/errors';
import type { DeviceCgroupRule } from '../spec/types';
import { writeCgroupFile } from './fs';

/** A device rule with the spec's optional parts made explicit: -1 = any major/minor. */
export interface NormalizedDeviceRule {
  allow: boolean;
  type: 'a' | 'c' | 'b';
  major: number;
  minor: number;
  /** Subset of "rwm", non-empty, in canonical order. */
  access: string;
}

const FIELD = 'linux.resources.devices';

/**
 * Devices runc allows in every container on top of the spec's rules (runc 1.1 specconv AllowedDevices). The
 * cgroup library does not add them by itself: whoever builds the rule list from the spec decides.
 */
export const DEFAULT_ALLOWED_DEVICES: readonly DeviceCgroupRule[] = [
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // net/tun
];

function devNumber(v: number | undefined, field: string): number {
  if (v === undefined || v === -1) return -1;
  // Kept below 2^31 so that the eBPF filter can compare it as a sign-extended 32-bit immediate.
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw invalid(field, `must be -1 (any) or an integer from 0 to 2147483647, got ${v}`);
  return v;
}

export function normalizeDeviceRule(rule: DeviceCgroupRule, index: number): NormalizedDeviceRule {
  const at = `${FIELD}[${index}]`;
  if (typeof rule.allow !== 'boolean') throw invalid(`${at}.allow`, 'must be true or false');
  const type = rule.type ?? 'a';
  if (type !== 'a' && type !== 'c' && type !== 'b') throw invalid(`${at}.type`, `must be "a", "c" or "b", got ${JSON.stringify(type)}`);
  // runc refuses an empty access string rather than guessing; so do we.
  const access = rule.access ?? '';
  if (access === '' || !/^[rwm]+$/.test(access)) throw invalid(`${at}.access`, `must be a non-empty combination of r, w and m, got ${JSON.stringify(access)}`);
  const canonical = ['r', 'w', 'm'].filter((c) => access.includes(c)).join('');
  // Type "a" always means every device: the kernel ignores major/minor there, so do we.
  const major = type === 'a' ? -1 : devNumber(rule.major, `${at}.major`);
  const minor = type === 'a' ? -1 : devNumber(rule.minor, `${at}.minor`);
  return { allow: rule.allow, type, major, minor, access: canonical };
}

export function normalizeDeviceRules(rules: readonly DeviceCgroupRule[]): NormalizedDeviceRule[] {
  return rules.map((r, i) => normalizeDeviceRule(r, i));
}

/** The cgroup v1 devices.allow/devices.deny line: "c 1:3 rwm", "*" for any. */
export function v1DeviceLine(r: NormalizedDeviceRule): string {
  const n = (v: number): string => (v < 0 ? '*' : String(v));
  return `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}

/**
 * cgroup v1: start from deny-all, then replay the rules in order, as runc does. Each write is applied by the
 * kernel on top of the previous state, so spec order is preserved (a later deny punches a hole into an
 * earlier allow). Updating a running container therefore briefly denies everything between the first write
 * and the allows.
 */
export function applyDevicesV1(dir: string, rules: readonly NormalizedDeviceRule[]): void {
  writeCgroupFile(dir, 'devices.deny', 'a', FIELD);
  rules.forEach((r, i) => {
    writeCgroupFile(dir, r.allow ? 'devices.allow' : 'devices.deny', v1DeviceLine(r), `${FIELD}[${i}]`);
  });
}
