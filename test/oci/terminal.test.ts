/** process.terminal: the pty master reaches the console socket (SCM_RIGHTS), as shims written for runc expect. */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptys, requireHost } from '../helpers/host';
import { BERTH_RUN, RuntimeCli, cleanupTempDirs, eventually, makeBundle, requireTools, tempDir, uniqueId } from '../helpers/oci';

const cli = new RuntimeCli('berth-run');
let receiverBin = '';
const receivers: ChildProcess[] = [];

beforeAll(() => {
  requireTools('cc');
  requireHost(ptys());
  receiverBin = path.join(tempDir(), 'console-receiver');
  execFileSync('cc', ['-O2', '-o', receiverBin, path.join(__dirname, 'console-receiver.c')]);
});
afterEach(() => {
  cli.cleanup();
  for (const r of receivers.splice(0)) if (r.exitCode === null) r.kill('SIGKILL');
});
afterAll(() => cleanupTempDirs());

/** Starts a receiver; resolves with a function giving everything it printed so far. */
async function receiver(input?: string): Promise<{ socket: string; output: () => string; done: Promise<void> }> {
  const socket = path.join(tempDir(), 'console.sock');
  const child = spawn(receiverBin, input === undefined ? [socket] : [socket, input], { stdio: ['ignore', 'pipe', 'inherit'] });
  receivers.push(child);
  let out = '';
  child.stdout!.on('data', (b) => { out += b.toString(); });
  const done = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await eventually(() => out.includes('listening'), 5000, 'console receiver');
  return { socket, output: () => out, done };
}

test('create with a terminal hands the pty master over; the program sees a tty of the asked size', async () => {
  const r = await receiver();
  const id = uniqueId('tty');
  cli.ok(['create', '--console-socket', r.socket, '--bundle', makeBundle((s) => {
    s.process!.terminal = true;
    s.process!.consoleSize = { height: 33, width: 101 };
    s.process!.args = ['sh', '-c', 'tty; stty size; [ -c /dev/console ] && echo console > /dev/console; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty; echo pgrp=$(cut -d" " -f5 /proc/self/stat) sid=$(cut -d" " -f6 /proc/self/stat)'];
  }), id]);
  await eventually(() => r.output().includes('connected'), 5000, 'pty master');
  cli.ok(['start', id]);
  await r.done;
  const out = r.output().replace(/\r/g, '');
  expect(out).toMatch(/connected \/dev\/pts\/\d+/);
  expect(out).toMatch(/^\/dev\/pts\/0$/m);
  expect(out).toMatch(/^33 101$/m);
  expect(out).toMatch(/^all-tty$/m);
  // /dev/console is the same pty (runc does the same).
  expect(out).toMatch(/^console$/m);
  // The program leads its own session on the terminal.
  expect(out).toMatch(/^pgrp=1 sid=1$/m);
});

test('input typed on the terminal reaches the program', async () => {
  const r = await receiver('hello-from-the-terminal\n');
  const id = uniqueId('ttyin');
  cli.ok(['run', '-d', '--console-socket', r.socket, '--bundle', makeBundle((s) => {
    s.process!.terminal = true;
    s.process!.args = ['sh', '-c', 'read line; echo "got:$line"'];
  }), id]);
  await r.done;
  expect(r.output()).toMatch(/got:hello-from-the-terminal/);
});

test('exec --tty into a running container', async () => {
  const id = uniqueId('exectty');
  cli.ok(['run', '-d', '--bundle', makeBundle((s) => { s.process!.args = ['sleep', '30']; }), id]);
  const r = await receiver();
  const e = cli.run(['exec', '--tty', '--detach', '--console-socket', r.socket, id, 'sh', '-c', 'tty; echo exec-tty-ok']);
  expect(e.status).toBe(0);
  await r.done;
  expect(r.output()).toMatch(/\/dev\/pts\/\d+[\s\S]*exec-tty-ok/);
});

test('a terminal without --console-socket is refused before anything is created', () => {
  const id = uniqueId('notty');
  const r = cli.run(['create', '--bundle', makeBundle((s) => { s.process!.terminal = true; }), id]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/process\.terminal.*--console-socket/);
  expect(fs.existsSync(path.join(cli.root, id))).toBe(false);
});

test('run in the foreground with a terminal and no console socket relays our terminal through the pty, as runc does', () => {
  const id = uniqueId('relay');
  const bundle = makeBundle((s) => {
    s.process!.terminal = true;
    s.process!.args = ['sh', '-c', 'read line; echo "got:$line tty:$(tty)"; exit 3'];
  });
  // script(1) gives berth-run a controlling terminal, which a foreground run with a terminal needs (as runc's does).
  const cmd = [BERTH_RUN, '--root', cli.root, 'run', '--bundle', bundle, id].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { input: 'typed-line\n', encoding: 'utf8', timeout: 20000 });
  expect(r.status).toBe(3);
  expect(r.stdout.replace(/\r/g, '')).toMatch(/^got:typed-line tty:\/dev\/pts\/0$/m);
  expect(fs.existsSync(path.join(cli.root, id))).toBe(false);
});

test('run in the foreground with a terminal but none of its own fails at once, before anything is created', () => {
  const id = uniqueId('relay');
  const bundle = makeBundle((s) => {
    s.process!.terminal = true;
    s.process!.args = ['sh'];
  });
  const r = spawnSync(BERTH_RUN, ['--root', cli.root, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 20000 });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^process\.terminal: .*open \/dev\/tty failed/);
  expect(fs.existsSync(path.join(cli.root, id))).toBe(false);
});

test('exec --tty without a console socket is refused', async () => {
  const id = uniqueId('exectty2');
  cli.ok(['run', '-d', '--bundle', makeBundle((s) => { s.process!.args = ['sleep', '30']; }), id]);
  const r = cli.run(['exec', '--tty', id, 'true']);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/process\.terminal.*--console-socket/);
});
