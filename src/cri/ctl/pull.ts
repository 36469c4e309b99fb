/** `berthctl pull`: PullImage, with the pull's progress (berth.v1.PullProgress) on stderr. */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { invalid } from '../../common/errors';
import { flagString } from '../../common/args';
import { PULL_ID_METADATA, type AuthConfig, type PullImageResponse, type PullProgressEvent } from '../types';
import { HELP_FLAG, type Command, type CommandContext } from './command';
import { humanSize } from './format';

/** `--creds user:pass`, `--username/--password` or `--auth base64` → the CRI AuthConfig. */
export function authConfig(ctx: Pick<CommandContext, 'args'>): AuthConfig | null {
  const creds = flagString(ctx.args, 'creds');
  const username = flagString(ctx.args, 'username');
  const password = flagString(ctx.args, 'password');
  const auth = flagString(ctx.args, 'auth');
  const given = [creds, username ?? password, auth].filter((v) => v !== undefined).length;
  if (given > 1) throw invalid('--creds', 'use one of --creds, --username/--password, --auth');
  const empty: AuthConfig = { username: '', password: '', auth: '', serverAddress: '', identityToken: '', registryToken: '' };
  if (creds !== undefined) {
    const i = creds.indexOf(':');
    if (i <= 0) throw invalid('--creds', 'expected USERNAME:PASSWORD');
    return { ...empty, username: creds.slice(0, i), password: creds.slice(i + 1) };
  }
  if (username !== undefined || password !== undefined) {
    if (!username) throw invalid('--username', 'is required with --password');
    return { ...empty, username, password: password ?? '' };
  }
  if (auth !== undefined) return { ...empty, auth };
  return null;
}

/** Parses a Go-style duration (`90s`, `5m`, `1h30m`, `0`) into milliseconds. */
export function parseDuration(v: string, field: string): number {
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(v))) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    end = re.lastIndex;
  }
  if (end !== v.length || v === '') throw invalid(field, `"${v}" is not a duration such as 30s, 5m, 1h`);
  return total;
}

/** Prints progress: one line per finished step, plus a redrawn total while downloading on a terminal. */
class ProgressPrinter {
  private readonly layers = new Map<string, { bytes: number; size: number }>();
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly ctx: CommandContext) {}

  event(e: PullProgressEvent): void {
    const bytes = Number(e.bytes);
    const size = Number(e.size);
    this.layers.set(e.digest, { bytes, size });
    if (e.phase === 'downloading') {
      if (!this.ctx.stderrIsTty || Date.now() - this.lastDraw < 100) return;
      this.lastDraw = Date.now();
      let got = 0;
      let all = 0;
      for (const l of this.layers.values()) {
        got += l.bytes;
        all += l.size;
      }
      this.ctx.stderr(`\r\x1b[Kdownloading: ${humanSize(got)} / ${humanSize(all)}`);
      this.drawn = true;
      return;
    }
    this.clear();
    this.ctx.stderr(`${e.kind} ${e.digest.slice(0, 19)}: ${e.phase} ${humanSize(size)}\n`);
  }

  clear(): void {
    if (this.drawn) this.ctx.stderr('\r\x1b[K');
    this.drawn = false;
  }
}

export const pullCommand: Command = {
  name: 'pull',
  service: 'image',
  usage: 'berthctl pull [OPTIONS] NAME[:TAG|@DIGEST]',
  summary: 'Pull an image from a registry',
  flags: [
    { name: 'creds', kind: 'string', arg: 'USERNAME:PASSWORD', help: 'registry credentials' },
    { name: 'username', short: 'u', kind: 'string', arg: 'USERNAME', help: 'registry user name' },
    { name: 'password', kind: 'string', arg: 'PASSWORD', help: 'registry password' },
    { name: 'auth', kind: 'string', arg: 'AUTH', help: 'base64 of USERNAME:PASSWORD' },
    { name: 'pull-timeout', kind: 'string', arg: 'DURATION', help: 'give up after this long (e.g. 5m; default 0: no limit)' },
    { name: 'quiet', short: 'q', kind: 'bool', help: 'no progress on stderr' },
    HELP_FLAG,
  ],
  async run(ctx) {
    const { client, args, stdout } = ctx;
    if (args.positional.length !== 1) throw invalid('IMAGE', 'pull takes exactly one image reference');
    const image = args.positional[0];
    const auth = authConfig(ctx);
    const timeoutMs = parseDuration(flagString(args, 'pull-timeout') ?? '0', '--pull-timeout');
    const metadata = new grpc.Metadata();
    let stream: grpc.ClientReadableStream<unknown> | undefined;
    const printer = new ProgressPrinter(ctx);
    if (!args.flags.get('quiet')) {
      const pullId = randomBytes(12).toString('hex');
      metadata.set(PULL_ID_METADATA, pullId);
      stream = client.watchPull(pullId);
      stream.on('data', (e: PullProgressEvent) => printer.event(e));
      // Progress is a nicety: a berthd without it (or a dropped stream) does not fail the pull.
      stream.on('error', () => undefined);
    }
    try {
      const res = await client.imageCall<unknown, PullImageResponse>('PullImage', { image: { image }, auth }, { timeoutMs, metadata });
      printer.clear();
      stdout(`Image is up to date for ${res.imageRef}\n`);
      return 0;
    } finally {
      printer.clear();
      stream?.cancel();
    }
  },
};
