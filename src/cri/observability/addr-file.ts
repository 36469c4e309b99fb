/**
 * `<state>/metrics.addr`: the endpoint's bound address for berth-agent, one line `host:port`. Replaced by a
 * rename, so a reader sees the old address or the new one, never half a line; mode 0644 (it is no secret;
 * the state directory's own mode decides who reaches it).
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from '../../common/atomic';

export function writeAddrFile(file: string, address: string): void {
  // /run is a tmpfs, gone at reboot: atomic against a crash is all it needs, no fsync.
  writeFileAtomic(file, `${address}\n`, 0o644, { durable: false });
}

export function removeAddrFile(file: string): void {
  fs.rmSync(file, { force: true });
}
