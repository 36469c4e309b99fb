/**
 * readableChunks: a Readable's chunks handed on as emitted (never concatenated), with backpressure, and
 * every way a stream can end: 'end', 'error', or destroyed without either.
 */
import { PassThrough, Readable } from 'node:stream';
import { readableChunks } from '../../src/common/readable-chunks';

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe('readableChunks', () => {
  test('hands on the very chunks the stream emits, where its own iterator concatenates them', async () => {
    const chunks = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')];
    const s = new PassThrough();
    for (const c of chunks) s.write(c);
    s.end();
    const got = await collect(readableChunks(s));
    expect(got).toHaveLength(3);
    got.forEach((c, i) => expect(c.buffer).toBe(chunks[i].buffer));

    const own = new PassThrough();
    for (const c of chunks) own.write(c);
    own.end();
    expect((await collect(own)).map(String)).toEqual(['onetwothree']); // why this helper exists
  });

  test('pauses the stream while more than highWater bytes wait, and resumes as they are taken', async () => {
    let produced = 0;
    const s = new Readable({
      read() {
        if (produced === 64) this.push(null);
        else produced++, this.push(Buffer.alloc(1024));
      },
    });
    const it = readableChunks(s, 4096);
    await it.next();
    await new Promise((r) => setTimeout(r, 20));
    expect(s.isPaused()).toBe(true);
    expect(produced).toBeLessThan(64);
    let n = 1;
    for await (const c of it) n += c.length > 0 ? 1 : 0;
    expect(n).toBe(64);
  });

  test("an 'error' is thrown to the consumer", async () => {
    const s = new PassThrough();
    s.write('partial');
    setTimeout(() => s.destroy(Object.assign(new Error('connection reset'), { code: 'ECONNRESET' })), 5);
    await expect(collect(readableChunks(s))).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  test("destroyed without 'end' or 'error' is a premature close, not a clean end", async () => {
    const s = new PassThrough();
    s.write('partial');
    setTimeout(() => s.destroy(), 5);
    await expect(collect(readableChunks(s))).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  test('a consumer that stops early destroys the stream, and a late error is not uncaught', async () => {
    const s = new PassThrough();
    s.write('a');
    s.write('b');
    for await (const c of readableChunks(s)) {
      expect(String(c)).toBe('a');
      break;
    }
    expect(s.destroyed).toBe(true);
    s.emit('error', new Error('after the consumer left'));
  });
});
