/** berth-monitor on its own (command mode, no shim): command line, failed launchers, partial lines, exit record. */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MONITOR, requireShimTools, waitFor } from './helpers';
import { cleanupTempDirs, tempDir } from '../helpers/oci';

requireShimTools();
// The monitors' directories.
afterAll(() => cleanupTempDirs());

/** Runs the monitor with `command` as launcher; resolves with its fd 3 report and exit status. */
function runMonitor(args: string[]): Promise<{ report: string; status: number | null }> {
  const child = spawn(MONITOR, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let report = '';
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => { report += b.toString(); });
  return new Promise((resolve) => child.on('close', (status) => resolve({ report, status })));
}

describe('berth-monitor', () => {
  test('--help and bad arguments', () => {
    const help = spawnSync(MONITOR, ['--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: berth-monitor');
    const bad = spawnSync(MONITOR, ['--bogus'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--bogus');
    expect(spawnSync(MONITOR, ['--dir', '/tmp'], { encoding: 'utf8' }).status).toBe(2);
    expect(help.stdout).toContain('--wait-attach');
    for (const v of ['0', 'abc', '86401']) {
      const r = spawnSync(MONITOR, ['--dir', '/tmp', '--wait-attach', v, '--', 'true'], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('--wait-attach');
    }
  });

  test('a launcher that fails is reported, and nothing is left in the directory', async () => {
    const dir = tempDir('bmon-');
    const r = await runMonitor(['--dir', dir, '--', 'sh', '-c', 'exit 3']);
    expect(r.report).toBe('error launcher exited with status 3\n');
    expect(r.status).toBe(1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('the process left by the launcher is watched: exit record, partial lines, signal exits', async () => {
    const dir = tempDir('bmon-');
    const log = path.join(dir, 'ctr.log');
    // The launcher leaves a background process (as `runc create` leaves the container) and exits 0.
    const r = await runMonitor(['--dir', dir, '--log', log, '--', 'sh', '-c', '(printf abc; sleep 1.5; echo def; kill -TERM $(sh -c "echo \\$PPID")) & exit 0']);
    expect(r.report).toMatch(/^pid \d+\n$/);
    const pid = Number(r.report.slice(4));
    await waitFor(() => fs.existsSync(path.join(dir, 'exit.json')), 10000, 'the exit record');
    const exit = JSON.parse(fs.readFileSync(path.join(dir, 'exit.json'), 'utf8'));
    expect(exit).toMatchObject({ pid, exitCode: 143, signal: 15, oomKilled: false });
    expect(exit.finishedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    // An unfinished line is written as P after a second of silence; its end comes later as F.
    const lines = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').slice(1).join(' '));
    expect(lines).toEqual(['stdout P abc', 'stdout F def']);
    expect(fs.existsSync(path.join(dir, 'monitor.sock'))).toBe(false);
  });
});
