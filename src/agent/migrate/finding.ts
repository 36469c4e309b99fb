/**
 * Building findings that the NodeMigration status accepts: the CRD bounds a finding's message and its list
 * of objects, and a node with hundreds of pods must still produce a status the API server takes.
 */
import type { Finding, FindingSeverity, ObjectRef } from '../api/migration-types';

const MAX_OBJECTS = 256;
const MAX_MESSAGE = 32768;
/** How many names a message spells out before it says "and N more" (the objects list has them all). */
const MAX_NAMED = 10;

export function finding(check: string, severity: FindingSeverity, message: string, objects: readonly ObjectRef[] = []): Finding {
  return { check, severity, message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message, objects: objects.slice(0, MAX_OBJECTS) };
}

/** `a, b, c and 7 more`. */
export function nameList(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMED).join(', ');
  return names.length > MAX_NAMED ? `${shown} and ${names.length - MAX_NAMED} more` : shown;
}
