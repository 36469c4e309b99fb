/** The SPDY/3.1 framer of berthd's streaming server: dictionary, header compression, frames, sessions. */
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from '../../src/cri/streaming/spdy-dictionary';
import {
  decodeHeaderBlock, encodeDataHeader, encodeGoAway, encodeHeaderBlock, encodePing, encodeSynStream, FLAG_FIN, FrameReader, FrameType,
} from '../../src/cri/streaming/spdy-frames';
import { SpdySession, type SpdyStream } from '../../src/cri/streaming/spdy-session';
import { adler32, HeaderCompressor, HeaderDecompressor } from '../../src/cri/streaming/spdy-zlib';

/** A long-lived zlib stream with the SPDY dictionary, flushed after each block: what Go's spdy framer sends. */
class StreamingDeflate {
  private readonly z = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, level: 9 });
  private out: Buffer[] = [];
  constructor() {
    this.z.on('data', (d: Buffer) => this.out.push(d));
  }
  block(b: Buffer): Promise<Buffer> {
    this.z.write(b);
    return new Promise((resolve) => this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => setImmediate(() => resolve(Buffer.concat(this.out.splice(0))))));
  }
}

class StreamingInflate {
  private readonly z = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  private out: Buffer[] = [];
  constructor() {
    this.z.on('data', (d: Buffer) => this.out.push(d));
  }
  block(b: Buffer): Promise<Buffer> {
    this.z.write(b);
    return new Promise((resolve) => this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => setImmediate(() => resolve(Buffer.concat(this.out.splice(0))))));
  }
}

describe('header compression', () => {
  test('the SPDY/3 dictionary is the one peers preset (its zlib id)', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(adler32(SPDY3_DICTIONARY)).toBe(0xe3c6a7c2);
    expect(adler32(Buffer.from('Wikipedia'))).toBe(0x11e60398);
  });

  test('blocks from a real compressor (back-references across blocks) decompress in order', async () => {
    const peer = new StreamingDeflate();
    const ours = new HeaderDecompressor();
    const blocks = ([
      { streamtype: 'error' },
      { streamtype: 'stdin' },
      { streamtype: 'stdout', 'x-long': 'y'.repeat(40000) },
      { streamtype: 'stdout', port: '8080', requestid: '0' },
    ] as Array<Record<string, string>>).map((h) => encodeHeaderBlock(h));
    for (const b of blocks) {
      const wire = await peer.block(b);
      expect(ours.decompress(wire)).toEqual(b);
    }
    expect(decodeHeaderBlock(blocks[3]).get('port')).toEqual(['8080']);
  });

  test('our blocks are a zlib stream a real decompressor reads (stored blocks, split at 64 KiB, sync-flushed)', async () => {
    const peer = new StreamingInflate();
    const ours = new HeaderCompressor();
    for (const b of [encodeHeaderBlock({}), encodeHeaderBlock({ streamtype: 'data', port: '80' }), Buffer.alloc(150000, 7)]) {
      const wire = ours.compress(b);
      // Go's inflater releases a block's bytes only at the empty stored block a sync flush ends with.
      expect(wire.subarray(-4)).toEqual(Buffer.from([0x00, 0x00, 0xff, 0xff]));
      expect(await peer.block(wire)).toEqual(b);
    }
  });

  test('a stream made with another dictionary, or no zlib at all, is refused', () => {
    const other = zlib.deflateSync(Buffer.from('x'), { dictionary: Buffer.from('not spdy') });
    expect(() => new HeaderDecompressor().decompress(other)).toThrow(/dictionary/);
    expect(() => new HeaderDecompressor().decompress(Buffer.from([1, 2, 3, 4]))).toThrow(/zlib/);
  });

  test('header blocks: lowercase names, several values, truncation caught', () => {
    const b = encodeHeaderBlock({ StreamType: 'data', Multi: ['a', 'b'] });
    expect([...decodeHeaderBlock(b)]).toEqual([['streamtype', ['data']], ['multi', ['a', 'b']]]);
    expect(() => decodeHeaderBlock(b.subarray(0, b.length - 1))).toThrow(/cut short/);
  });
});

describe('frame reader', () => {
  test('frames cut at every byte boundary arrive whole; DATA payloads in pieces', () => {
    const comp = new HeaderCompressor();
    const wire = Buffer.concat([
      encodeSynStream(1, 0, comp.compress(encodeHeaderBlock({ streamtype: 'stdin' }))),
      encodeDataHeader(1, 0, 5), Buffer.from('hello'),
      encodeDataHeader(1, FLAG_FIN, 0),
      encodePing(7),
      encodeGoAway(1, 0),
    ]);
    for (const step of [1, 3, 7, wire.length]) {
      const seen: string[] = [];
      let data = '';
      const r = new FrameReader({
        control: (type, version) => seen.push(`c${type}v${version}`),
        data: (id, flags, piece, last) => {
          data += piece.toString();
          if (last) seen.push(`d${id}:${flags}`);
        },
      });
      for (let i = 0; i < wire.length; i += step) r.push(wire.subarray(i, i + step));
      expect(seen).toEqual([`c${FrameType.SYN_STREAM}v3`, 'd1:0', 'd1:1', `c${FrameType.PING}v3`, `c${FrameType.GOAWAY}v3`]);
      expect(data).toBe('hello');
    }
  });
});

/** A server and a client session over a loopback TCP connection. */
async function sessionPair(): Promise<{ server: SpdySession; client: SpdySession; close: () => Promise<void> }> {
  let serverSock: net.Socket | undefined;
  const listener = net.createServer((s) => { serverSock = s; });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const port = (listener.address() as net.AddressInfo).port;
  const clientSock = net.connect(port, '127.0.0.1');
  await new Promise((r) => clientSock.once('connect', r));
  while (!serverSock) await new Promise((r) => setImmediate(r));
  const server = new SpdySession(serverSock, { server: true });
  const client = new SpdySession(clientSock, { server: false });
  return {
    server,
    client,
    close: async () => {
      clientSock.destroy();
      serverSock!.destroy();
      await new Promise((r) => listener.close(r));
    },
  };
}

const collect = (s: NodeJS.ReadableStream): Promise<Buffer> => new Promise((resolve, reject) => {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  s.on('end', () => resolve(Buffer.concat(parts)));
  s.on('error', reject);
});

describe('sessions', () => {
  test('streams both ways with half-close, 4 MiB intact, replies and headers', async () => {
    const { server, client, close } = await sessionPair();
    try {
      server.on('stream', (s: SpdyStream) => {
        expect(s.header('StreamType')).toBe('echo');
        s.reply();
        // Echo everything back, then our FIN after theirs.
        s.pipe(s);
      });
      const payload = Buffer.alloc(4 << 20);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
      const streams = [0, 1].map(() => client.createStream({ streamType: 'echo' }));
      await Promise.all(streams.map((s) => s.waitReply()));
      const got = streams.map((s) => collect(s));
      for (const s of streams) s.end(payload);
      for (const g of await Promise.all(got)) expect(g.equals(payload)).toBe(true);
      await new Promise((r) => setImmediate(r));
      expect(server.streamCount).toBe(0);
      expect(client.streamCount).toBe(0);
    } finally {
      await close();
    }
  });

  test('RST_STREAM aborts one stream; PING is echoed; GOAWAY and the socket end close everything', async () => {
    const { server, client, close } = await sessionPair();
    try {
      const serverSide: SpdyStream[] = [];
      server.on('stream', (s: SpdyStream) => {
        s.reply();
        serverSide.push(s);
      });
      const a = client.createStream({ streamType: 'a' });
      const b = client.createStream({ streamType: 'b' });
      await Promise.all([a.waitReply(), b.waitReply()]);
      const reset = new Promise((r) => serverSide[0].once('reset', r));
      a.reset();
      expect(await reset).toBe(5);
      // A ping with the client's (odd) parity comes back: written raw, read raw.
      const pong = new Promise<void>((resolve) => {
        client.socket.prependListener('data', (d: Buffer) => {
          if (d.includes(encodePing(9))) resolve();
        });
      });
      client.socket.write(encodePing(9));
      await pong;
      const serverClosed = new Promise((r) => server.once('close', r));
      const bClosed = new Promise((r) => b.once('close', r));
      client.close();
      await serverClosed;
      await bClosed;
      expect(serverSide[1].destroyed).toBe(true);
      expect(() => client.createStream({ x: 'y' })).toThrow(/going away/);
    } finally {
      await close();
    }
  });

  test('a reader that falls behind pauses the socket instead of buffering without bound', async () => {
    const { server, client, close } = await sessionPair();
    try {
      const got = new Promise<SpdyStream>((r) => server.on('stream', (s: SpdyStream) => { s.reply(); r(s); }));
      const c = client.createStream({ streamType: 'stdin' });
      const s = await got;
      s.pause();
      const big = Buffer.alloc(8 << 20, 1);
      c.write(big);
      await new Promise((r) => setTimeout(r, 300));
      // Only what the socket buffers and one readable buffer hold: far less than 8 MiB.
      expect(s.readableLength).toBeLessThan(1 << 20);
      const all = collect(s);
      s.resume();
      c.end();
      expect((await all).length).toBe(big.length);
    } finally {
      await close();
    }
  });
});
