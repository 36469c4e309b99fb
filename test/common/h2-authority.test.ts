/**
 * The HTTP/2 `:authority` filter's parts, on bytes: Huffman decoding against RFC 7541's examples, the header
 * block rewriter (dynamic table followed across blocks), and the frame layer (CONTINUATION, padding,
 * priority, other frames untouched).
 */
import { describe, expect, test } from '@jest/globals';
import { ClientFrames, FrameError } from '../../src/common/h2/client-frames';
import { AuthorityRewriter, fixAuthority, HpackError } from '../../src/common/h2/hpack-authority';
import { huffmanDecode, HuffmanError } from '../../src/common/h2/huffman';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('Huffman decoding (RFC 7541 C.4, C.6)', () => {
  test.each([
    ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
    ['a8eb 1064 9cbf', 'no-cache'],
    ['25a8 49e9 5ba9 7d7f', 'custom-key'],
    ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
    ['6402', '302'],
    ['aec3 771a 4b', 'private'],
    ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
  ])('%s → %s', (coded, text) => {
    expect(huffmanDecode(hex(coded)).toString('latin1')).toBe(text);
  });

  test('padding longer than 7 bits, padding that is not all ones, and EOS are errors', () => {
    expect(() => huffmanDecode(hex('a8eb 1064 9cbf ff'))).toThrow(HuffmanError); // 8 more bits of ones
    expect(() => huffmanDecode(hex('a8eb 1064 9cbe'))).toThrow(HuffmanError); // last bit 0
    expect(() => huffmanDecode(hex('ffff fffc'))).toThrow(HuffmanError); // EOS (30 ones) then 2 bits
  });
});

/** A literal with incremental indexing, indexed name `nameIndex`, plain value. */
const literalIndexed = (nameIndex: number, value: string) => Buffer.concat([Buffer.from([0x40 | nameIndex, value.length]), Buffer.from(value, 'latin1')]);
/** A literal without indexing with a new, plain name. */
const literalNewName = (name: string, value: string) => Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1')]);

describe('the header block rewriter', () => {
  test("RFC 7541 C.3's requests pass unchanged (valid authorities), the dynamic table followed across them", () => {
    const r = new AuthorityRewriter();
    for (const block of ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65']) {
      const out = r.rewrite(hex(block));
      expect(out.changed).toBe(false);
      expect(out.block.equals(hex(block))).toBe(true);
    }
  });

  test('a path authority becomes valid with its length kept; later blocks may index it', () => {
    const r = new AuthorityRewriter();
    const first = Buffer.concat([hex('83 86'), literalIndexed(4, '/runtime.v1.RuntimeService/Version'), literalIndexed(1, '/run/berth/berthd.sock')]);
    const out = r.rewrite(first);
    expect(out.changed).toBe(true);
    expect(out.authorities).toEqual(['/run/berth/berthd.sock']);
    expect(out.block.equals(Buffer.concat([hex('83 86'), literalIndexed(4, '/runtime.v1.RuntimeService/Version'), literalIndexed(1, '_run_berth_berthd.sock')]))).toBe(true);
    // Newest entry is index 62 (the authority), then 63 (the path).
    const second = hex('83 86 bf be');
    expect(r.rewrite(second)).toEqual({ block: second, authorities: [], changed: false });
    expect(() => r.rewrite(hex('c0'))).toThrow(HpackError); // index 64: nothing there
  });

  test('an authority under a new literal name and a Huffman-coded one are found too', () => {
    const out = new AuthorityRewriter().rewrite(literalNewName(':authority', 'unix:/tmp/x.sock'));
    expect(out.block.equals(literalNewName(':authority', 'unix:_tmp_x.sock'))).toBe(true);
    // "/a" Huffman-coded: '/' 011000, 'a' 00011, then padding 11111 → 0110 0000 0111 1111.
    const huff = new AuthorityRewriter().rewrite(Buffer.concat([Buffer.from([0x41, 0x82]), hex('607f')]));
    expect(huff.authorities).toEqual(['/a']);
    expect(huff.block.equals(literalIndexed(1, '_a'))).toBe(true);
  });

  test('each invalid octet becomes "_"; valid ones stay', () => {
    expect(fixAuthority(Buffer.from('localhost:10250'))).toBeUndefined();
    expect(fixAuthority(Buffer.from('%2Frun%2Fx.sock'))).toBeUndefined();
    expect(fixAuthority(Buffer.from('/a b\u00e9', 'latin1'))?.toString('latin1')).toBe('_a_b_');
  });

  test('a dynamic table size update evicts, and an index beyond the table is an error', () => {
    const r = new AuthorityRewriter();
    r.rewrite(literalIndexed(1, '/x'));
    expect(r.rewrite(hex('be')).changed).toBe(false);
    r.rewrite(hex('20')); // size 0: the table empties
    expect(() => r.rewrite(hex('be'))).toThrow(HpackError);
  });
});

const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
};
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const SETTINGS = frame(0x4, 0, 0, Buffer.alloc(0));

describe('the frame layer', () => {
  test('valid traffic comes out byte for byte, however it is cut', () => {
    const headers = frame(0x1, 0x5, 1, Buffer.concat([hex('8286'), literalIndexed(1, 'localhost')]));
    const data = frame(0x0, 0x1, 1, Buffer.alloc(100, 7));
    const all = Buffer.concat([PREFACE, SETTINGS, headers, data]);
    for (const cut of [1, 7, 24, 30, 50, all.length - 1]) {
      const f = new ClientFrames();
      const out = Buffer.concat([...f.push(all.subarray(0, cut)), ...f.push(all.subarray(cut))]);
      expect(out.equals(all)).toBe(true);
    }
  });

  test('a block split over CONTINUATION frames, padded and with priority, comes out as one valid block', () => {
    const block = Buffer.concat([hex('8286'), literalIndexed(1, '/run/x.sock')]);
    const padded = Buffer.concat([Buffer.from([3]), hex('80000000 10'), block.subarray(0, 5), Buffer.alloc(3)]);
    const input = Buffer.concat([PREFACE, frame(0x1, 0x8 | 0x20 | 0x1, 3, padded), frame(0x9, 0x4, 3, block.subarray(5))]);
    const seen: string[][] = [];
    const out = Buffer.concat(new ClientFrames({ onBlock: (b) => seen.push(b.authorities) }).push(input));
    const expected = frame(0x1, 0x20 | 0x1 | 0x4, 3, Buffer.concat([hex('80000000 10'), hex('8286'), literalIndexed(1, '_run_x.sock')]));
    expect(out.equals(Buffer.concat([PREFACE, expected]))).toBe(true);
    expect(seen).toEqual([['/run/x.sock']]);
  });

  test('not HTTP/2, and a block interrupted by another frame, are errors', () => {
    expect(() => new ClientFrames().push(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toThrow(FrameError);
    const open = frame(0x1, 0, 1, hex('82'));
    expect(() => new ClientFrames().push(Buffer.concat([PREFACE, open, SETTINGS]))).toThrow(FrameError);
  });
});
