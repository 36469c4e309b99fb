/**
 * Talks to berth-layer-meta (src/native/layer-meta.c): mknod, lsetxattr and syncfs inside a snapshot being
 * built, each resolved by the helper with openat2(RESOLVE_IN_ROOT). One process per layer, started on the first
 * request; requests are answered in order, one line each.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { BerthError } from '../../common/errors';
import { nativeBinary } from '../../common/native';

/** build/bin/berth-layer-meta (BERTH_LAYER_META overrides). */
export function layerMetaBinary(): string {
  return nativeBinary('berth-layer-meta', 'BERTH_LAYER_META');
}

export class LayerMeta {
  private child: ChildProcessWithoutNullStreams | undefined;
  private buffered = '';
  private waiting: Array<(line: string | Error) => void> = [];
  private stderr = '';
  private failed: Error | undefined;

  constructor(private readonly root: string) {}

  mknod(rel: string, mode: number, major: number, minor: number): Promise<void> {
    return this.request(['mknod', rel, mode.toString(8), String(major), String(minor)]);
  }

  setxattr(rel: string, name: string, value: Buffer): Promise<void> {
    return this.request(['setxattr', rel, name, value.toString('hex')]);
  }

  syncfs(): Promise<void> {
    return this.request(['syncfs']);
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn(layerMetaBinary(), [this.root], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.buffered += d;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-2000)));
    const fail = (err: Error) => {
      this.failed = err;
      for (const w of this.waiting.splice(0)) w(err);
    };
    child.on('error', (err) => fail(new BerthError('FailedPrecondition', `berth-layer-meta: ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => fail(new BerthError('Internal', `berth-layer-meta exited (${code ?? signal}): ${this.stderr.trim()}`)));
    child.stdin.on('error', () => undefined); // reported through 'close'
    return child;
  }

  private request(fields: string[]): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    this.child ??= this.start();
    for (const f of fields) if (f.includes('\0')) return Promise.reject(new BerthError('InvalidArgument', `berth-layer-meta: field contains NUL: ${JSON.stringify(f)}`));
    return new Promise<void>((resolve, reject) => {
      this.waiting.push((line) => {
        if (line instanceof Error) reject(line);
        else if (line === 'ok') resolve();
        else reject(metaError(line.replace(/^error /, ''), this.root));
      });
      this.child!.stdin.write(fields.map((f) => f + '\0').join(''));
    });
  }

  /** Ends the helper (idempotent); waits for it to exit. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise((r) => child.once('close', r));
    child.stdin.end();
    await closed;
  }

  kill(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

function metaError(message: string, root: string): BerthError {
  if (/No space left|Disk quota/.test(message)) return new BerthError('ResourceExhausted', `no space left under ${root}: ${message}`);
  return new BerthError('Internal', `applying layer metadata: ${message}`);
}
