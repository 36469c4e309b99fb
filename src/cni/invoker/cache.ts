/**
 * The per-attachment cache (libcni's): the config and the result of a successful ADD, so that DEL, CHECK
 * and GC work after a restart with the prevResult the plugins expect. One JSON file per
 * (network, container, interface) under `<dir>/results/`, replaced atomically.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../common/atomic';
import type { Json } from '../pkg/validate';

export interface CachedAttachment {
  kind: 'berthCniCacheV1';
  networkName: string;
  containerId: string;
  ifName: string;
  netns: string;
  cniArgs: Array<[string, string]>;
  capabilityArgs: Json;
  /** The conflist as loaded, so that DEL runs the plugins the ADD ran even if the file changed since. */
  config: Json;
  /** The final result, in the list's cniVersion. */
  result: Json;
}

export class ResultCache {
  constructor(readonly dir: string) {}

  private file(network: string, containerId: string, ifname: string): string {
    return path.join(this.dir, 'results', `${network}-${containerId}-${ifname}`);
  }

  get(network: string, containerId: string, ifname: string): CachedAttachment | undefined {
    try {
      const v = JSON.parse(fs.readFileSync(this.file(network, containerId, ifname), 'utf8')) as CachedAttachment;
      return v.kind === 'berthCniCacheV1' ? v : undefined;
    } catch {
      return undefined;
    }
  }

  put(entry: CachedAttachment): void {
    fs.mkdirSync(path.join(this.dir, 'results'), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file(entry.networkName, entry.containerId, entry.ifName), JSON.stringify(entry));
  }

  remove(network: string, containerId: string, ifname: string): void {
    fs.rmSync(this.file(network, containerId, ifname), { force: true });
  }

  /** Every cached attachment of a network. */
  list(network: string): CachedAttachment[] {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(this.dir, 'results'));
    } catch {
      return [];
    }
    const out: CachedAttachment[] = [];
    for (const n of names) {
      if (!n.startsWith(`${network}-`) || n.startsWith('.')) continue;
      try {
        const v = JSON.parse(fs.readFileSync(path.join(this.dir, 'results', n), 'utf8')) as CachedAttachment;
        if (v.kind === 'berthCniCacheV1' && v.networkName === network) out.push(v);
      } catch {
        // a file of another tool: not ours to read
      }
    }
    return out;
  }
}
