/**
 * Content digests (`sha256:<64 hex>`, `sha512:<128 hex>`) as the OCI image spec and go-digest define them, and a
 * streaming verifier that checks both size and digest while bytes flow through it.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BerthError, invalid } from '../common/errors';

/** A validated digest string, e.g. `sha256:e3b0…`. */
export type Digest = string & { readonly __digest: unique symbol };

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Parses and validates; throws InvalidArgument naming `field` and the bad part. */
export function parseDigest(value: string, field = 'digest'): ParsedDigest {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'digest is empty');
  const colon = value.indexOf(':');
  if (colon <= 0) throw invalid(field, `invalid digest "${value}": expected <algorithm>:<hex>`);
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/.test(algorithm)) throw invalid(field, `invalid digest "${value}": bad algorithm "${algorithm}"`);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') throw invalid(field, `unsupported digest algorithm "${algorithm}" in "${value}" (supported: sha256, sha512)`);
  const want = HEX_LENGTH[algorithm];
  if (hex.length !== want || !/^[a-f0-9]+$/.test(hex)) {
    throw invalid(field, `invalid digest "${value}": the ${algorithm} part must be ${want} lowercase hex characters`);
  }
  return { algorithm, hex };
}

export function toDigest(value: string, field = 'digest'): Digest {
  parseDigest(value, field);
  return value as Digest;
}

export function isDigest(value: string): value is Digest {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function digestOf(data: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}

export function digestHasher(digest: string): Hash {
  return createHash(parseDigest(digest).algorithm);
}

/** Throws InvalidArgument (`what`) when `data` does not match `digest` (and `size` when given). */
export function verifyBuffer(data: Buffer, digest: string, size?: number, what = 'content'): void {
  const { algorithm } = parseDigest(digest);
  if (size !== undefined && data.length !== size) throw sizeMismatch(what, digest, size, data.length);
  const got = digestOf(data, algorithm);
  if (got !== digest) throw digestMismatch(what, digest, got);
}

export function digestMismatch(what: string, want: string, got: string): BerthError {
  return new BerthError('InvalidArgument', `${what}: digest mismatch: expected ${want}, got ${got}`, { field: 'digest' });
}

export function sizeMismatch(what: string, digest: string, want: number, got: number): BerthError {
  const how = got < want ? 'truncated' : 'too long';
  return new BerthError('InvalidArgument', `${what} ${digest}: size mismatch (${how}): expected ${want} bytes, got ${got}${got > want ? '+' : ''}`, { field: 'size' });
}

/**
 * Hashes and counts bytes as they are seen: `update` fails as soon as more than `size` bytes arrived, `finish`
 * when fewer arrived or the digest differs.
 */
export class DigestVerifier {
  private readonly hash: Hash;
  private readonly algorithm: DigestAlgorithm;
  bytes = 0;

  constructor(readonly digest: string, readonly size: number | undefined, private readonly what = 'blob', initial?: { bytes: number; hash: Hash }) {
    this.algorithm = parseDigest(digest).algorithm;
    this.hash = initial?.hash ?? createHash(this.algorithm);
    this.bytes = initial?.bytes ?? 0;
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) throw invalid('size', `invalid size ${size} for ${digest}`);
  }

  update(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.size !== undefined && this.bytes > this.size) throw sizeMismatch(this.what, this.digest, this.size, this.bytes);
    this.hash.update(chunk);
  }

  finish(): void {
    if (this.size !== undefined && this.bytes !== this.size) throw sizeMismatch(this.what, this.digest, this.size, this.bytes);
    const got = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (got !== this.digest) throw digestMismatch(`${this.what} ${this.digest}`, this.digest, got);
  }
}

/**
 * A pass-through stream over a DigestVerifier: a consumer that waits for 'finish' has verified content.
 */
export class VerifyingStream extends Transform {
  private readonly verifier: DigestVerifier;

  constructor(digest: string, size: number | undefined, what = 'blob', initial?: { bytes: number; hash: Hash }) {
    super();
    this.verifier = new DigestVerifier(digest, size, what, initial);
  }

  get bytes(): number {
    return this.verifier.bytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.verifier.update(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.verifier.finish();
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }
}
