/** Where a sandbox keeps things in its per-boot directory: pinned namespaces, /dev/shm, the infra bundle. */
import * as path from 'node:path';
import type { SandboxRecord } from '../store';

export const sandboxNsDir = (s: SandboxRecord): string => path.join(s.dir, 'ns');
export const sandboxShmDir = (s: SandboxRecord): string => path.join(s.dir, 'shm');
export const infraBundle = (s: SandboxRecord): string => path.join(s.dir, 'infra');
