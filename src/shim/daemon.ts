/** berth-shim as a daemon: one per state directory (a pid file guards it), serving until SIGTERM/SIGINT. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../common/errors';
import type { Logger } from '../common/log';
import { EventBus } from './events';
import { serve, taskHandlers } from './server';
import { TaskManager } from './tasks';

export const shimSocket = (stateDir: string): string => path.join(stateDir, 'shim.sock');

/** Takes <state>/shim.pid, unless a live shim holds it. */
function takePidFile(stateDir: string): void {
  const file = path.join(stateDir, 'shim.pid');
  const me = `${process.pid} ${procStart(process.pid)}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, me, { flag: 'wx', mode: 0o600 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const [pid, start] = fs.readFileSync(file, 'utf8').trim().split(' ');
    if (Number(pid) > 0 && procStart(Number(pid)) === start) throw new BerthError('AlreadyExists', `a berth-shim (pid ${pid}) already serves ${stateDir}`);
    fs.rmSync(file, { force: true });
  }
  throw new BerthError('Unavailable', `cannot take ${file}`);
}

function procStart(pid: number): string {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

export async function runShim(stateDir: string, log: Logger): Promise<void> {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  takePidFile(stateDir);
  const events = new EventBus();
  const tasks = new TaskManager(stateDir, log, events);
  await tasks.adopt();
  const server = await serve(shimSocket(stateDir), taskHandlers(tasks, events, log), log);
  log.info('berth-shim serving', { socket: shimSocket(stateDir), pid: process.pid });
  const stop = (): void => {
    log.info('berth-shim stopping: containers and their monitors carry on');
    tasks.close();
    server.forceShutdown();
    fs.rmSync(shimSocket(stateDir), { force: true });
    fs.rmSync(path.join(stateDir, 'shim.pid'), { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
