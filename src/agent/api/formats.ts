/**
 * The string formats the berth.dev schemas and the Kubernetes objects use, as the CRDs in crds/ spell them
 * (patterns and CEL rules there); validate.ts applies them again on read.
 */
import type { StringRules } from './read';

/** DNS-1123 label: what a CRI handler name is (RuntimeClass `handler`). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** DNS-1123 subdomain: object names such as a RuntimeClass's. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * A handler name: a DNS-1123 label of at most 55 characters, because the node label `berth.dev/handler.<handler>`
 * has a name part (after the slash) of at most 63 characters and "handler." takes 8 of them.
 */
export const HANDLER_NAME: StringRules = { nonEmpty: true, maxLength: 55, pattern: DNS_LABEL, patternName: 'a DNS-1123 label (lower-case letters, digits and "-", starting and ending alphanumeric)' };
export const OBJECT_NAME: StringRules = { nonEmpty: true, maxLength: 253, pattern: DNS_SUBDOMAIN, patternName: 'a DNS-1123 subdomain' };

/** metav1.Condition `type`: a qualified name (optional DNS-subdomain prefix and "/"). */
export const CONDITION_TYPE: StringRules = {
  nonEmpty: true,
  maxLength: 316,
  pattern: /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
  patternName: 'a qualified name such as Ready or example.com/Ready',
};
/** metav1.Condition `reason`: CamelCase, machine-readable. */
export const CONDITION_REASON: StringRules = { nonEmpty: true, maxLength: 1024, pattern: /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/, patternName: 'a CamelCase reason such as CanaryFailed' };
export const MESSAGE: StringRules = { maxLength: 32768 };

/** RFC 3339 date-time (what `format: date-time` and metav1.Time carry). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
export const isRfc3339 = (s: string): boolean => RFC3339.test(s) && !Number.isNaN(Date.parse(s));

/** An absolute path on the node that does not climb with "..", as the CRD's CEL rules require. */
export function pathProblem(p: string): string | undefined {
  if (!p.startsWith('/')) return 'must be an absolute path';
  if (p.split('/').includes('..')) return "must not contain '..'";
  return undefined;
}
