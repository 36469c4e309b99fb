/** Unix socket connections to paths longer than sun_path (108 bytes): through /proc/self/fd of the directory. */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

const SUN_PATH_MAX = 107;

export function connectUnix(socketPath: string): Promise<net.Socket> {
  let dirFd: number | undefined;
  let target = socketPath;
  if (Buffer.byteLength(socketPath) > SUN_PATH_MAX) {
    dirFd = fs.openSync(path.dirname(socketPath), 'r');
    target = `/proc/self/fd/${dirFd}/${path.basename(socketPath)}`;
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const sock = net.createConnection({ path: target });
    sock.once('connect', () => { sock.removeListener('error', reject); resolve(sock); });
    sock.once('error', reject);
  }).finally(() => {
    if (dirFd !== undefined) fs.closeSync(dirFd);
  });
}
