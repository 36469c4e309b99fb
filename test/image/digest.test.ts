import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { BerthError } from '../../src/common/errors';
import { digestOf, parseDigest, verifyBuffer, VerifyingStream } from '../../src/image/digest';

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

describe('digests', () => {
  test('parse sha256 and sha512', () => {
    expect(parseDigest(digestOf('x'))).toEqual({ algorithm: 'sha256', hex: createHash('sha256').update('x').digest('hex') });
    expect(parseDigest(digestOf('x', 'sha512')).algorithm).toBe('sha512');
  });

  test.each([
    ['', /empty/],
    ['sha256', /expected <algorithm>:<hex>/],
    [`sha256:${'a'.repeat(63)}`, /64 lowercase hex/],
    [`sha256:${'A'.repeat(64)}`, /64 lowercase hex/],
    [`sha512:${'a'.repeat(64)}`, /128 lowercase hex/],
    [`md5:${'a'.repeat(32)}`, /unsupported digest algorithm "md5"/],
  ])('rejects %j', (d, msg) => {
    expect(() => parseDigest(d, 'layers[0].digest')).toThrow(msg);
    try {
      parseDigest(d, 'layers[0].digest');
    } catch (e) {
      expect((e as BerthError).field).toBe('layers[0].digest');
    }
  });

  test('verifyBuffer checks size and digest', () => {
    const data = Buffer.from('hello');
    expect(() => verifyBuffer(data, digestOf(data), 5)).not.toThrow();
    expect(() => verifyBuffer(data, digestOf(data), 6)).toThrow(/size mismatch \(truncated\): expected 6 bytes, got 5/);
    expect(() => verifyBuffer(data, digestOf('other'))).toThrow(/digest mismatch/);
  });

  test('streaming verifier passes good content in chunks', async () => {
    const data = Buffer.alloc(300_000, 7);
    const chunks = [data.subarray(0, 1000), data.subarray(1000, 200_000), data.subarray(200_000)];
    await pipeline(Readable.from(chunks), new VerifyingStream(digestOf(data), data.length), sink());
  });

  test('streaming verifier: wrong digest, truncated, too long', async () => {
    const data = Buffer.from('content');
    await expect(pipeline(Readable.from([Buffer.from('CONTENT')]), new VerifyingStream(digestOf(data), 7), sink())).rejects.toThrow(/digest mismatch/);
    await expect(pipeline(Readable.from([data.subarray(0, 3)]), new VerifyingStream(digestOf(data), 7), sink())).rejects.toThrow(/truncated.*expected 7 bytes, got 3/);
    await expect(pipeline(Readable.from([data, data]), new VerifyingStream(digestOf(data), 7), sink())).rejects.toThrow(/too long/);
  });
});
