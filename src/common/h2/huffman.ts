/**
 * HPACK's Huffman code (RFC 7541 §5.2, Appendix B), decoding only. The code is canonical (codes of one length
 * are consecutive, in symbol order, and each length continues where the shorter one ended), so the table is
 * just each symbol's code length; the codes follow from it.
 */

/** Code length in bits of symbols 0–255 and of EOS (256), as Appendix B gives them. */
const CODE_BITS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const EOS = 256;
const MAX_BITS = 30;

/** Per code length: the first code of that length and the symbols that have it, in order. */
const byLength = (() => {
  const first = new Array<number>(MAX_BITS + 1).fill(0);
  const symbols: number[][] = Array.from({ length: MAX_BITS + 1 }, () => []);
  for (let s = 0; s < CODE_BITS.length; s++) symbols[CODE_BITS[s]].push(s);
  let code = 0;
  for (let len = 1; len <= MAX_BITS; len++) {
    first[len] = code;
    code = (code + symbols[len].length) * 2;
  }
  return { first, symbols };
})();

export class HuffmanError extends Error {}

/** Decodes a Huffman-coded string literal; throws HuffmanError on EOS, a bad code or padding that is not EOS's prefix. */
export function huffmanDecode(input: Uint8Array): Buffer {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of input) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const index = code - byLength.first[len];
      if (index >= 0 && index < byLength.symbols[len].length) {
        const symbol = byLength.symbols[len][index];
        if (symbol === EOS) throw new HuffmanError('Huffman-coded string contains EOS');
        out.push(symbol);
        code = 0;
        len = 0;
      } else if (len >= MAX_BITS) {
        throw new HuffmanError('invalid Huffman code');
      }
    }
  }
  // What is left must be padding: fewer than 8 bits, all ones (the most significant bits of EOS).
  if (len > 7 || code !== 2 ** len - 1) throw new HuffmanError('invalid Huffman padding');
  return Buffer.from(out);
}
