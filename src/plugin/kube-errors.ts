/**
 * API errors as kubectl words them: a request RBAC refused names the verb and the resource
 * (`cannot create nodemigrations.berth.dev (forbidden: …)`) and keeps the PermissionDenied kind, so that the
 * exit code stays the errors module's; every other error passes through unchanged.
 */
import { asBerthError, BerthError } from '../common/errors';

/** The API server's own words: KubeClient prefixes `METHOD /path: `, and the Status repeats the resource. */
function serverMessage(message: string): string {
  return message.replace(/^[A-Z]+ \S+: /, '').replace(/^\S+ is forbidden: /, '');
}

export function explainApiError(verb: string, resource: string, err: unknown): BerthError {
  const e = asBerthError(err);
  if (e.kind !== 'PermissionDenied') return e;
  return new BerthError('PermissionDenied', `cannot ${verb} ${resource} (forbidden: ${serverMessage(e.message)})`, { cause: err });
}

/** Runs one API call, explaining a refusal by RBAC. */
export async function apiCall<T>(verb: string, resource: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw explainApiError(verb, resource, err);
  }
}
