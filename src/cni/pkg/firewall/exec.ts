/** Running the firewall tools: input on stdin, stdout back, a failure as an error carrying their stderr. */
import { spawn } from 'node:child_process';
import { BerthError } from '../../../common/errors';

export function runTool(file: string, args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => reject(new BerthError('FailedPrecondition', `executing ${file}: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) resolve(stdout);
      else reject(new BerthError('Internal', `${file} ${args.join(' ')} failed (exit ${code}): ${Buffer.concat(err).toString('utf8').trim()}${input ? `\ninput:\n${input}` : ''}`));
    });
    child.stdin.end(input);
  });
}
