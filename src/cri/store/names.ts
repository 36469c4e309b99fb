/**
 * The CRI's unique names: a sandbox is unique by (name, namespace, uid, attempt), a container by (its name,
 * attempt, the sandbox's). Reserving a name before any work is done makes two concurrent creates of the same
 * object fail fast with AlreadyExists instead of both running.
 */
import { alreadyExists } from '../../common/errors';

export class NameIndex {
  private readonly owners = new Map<string, string>();

  reserve(name: string, id: string, what: string): void {
    const owner = this.owners.get(name);
    if (owner !== undefined && owner !== id) throw alreadyExists(`${what} name "${name}" is reserved by ${owner}`);
    this.owners.set(name, id);
  }

  release(name: string): void {
    this.owners.delete(name);
  }

  owner(name: string): string | undefined {
    return this.owners.get(name);
  }
}
