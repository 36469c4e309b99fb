/**
 * Errors are values with a kind. Every boundary (CLI exit code, gRPC status, CNI error code) maps the kind
 * once, here, so that components never invent their own codes.
 */
export type ErrorKind =
  | 'InvalidArgument'
  | 'NotFound'
  | 'AlreadyExists'
  | 'FailedPrecondition'
  | 'PermissionDenied'
  | 'Unauthenticated'
  | 'Unavailable'
  | 'ResourceExhausted'
  | 'DeadlineExceeded'
  | 'Unimplemented'
  | 'Internal';

export class BerthError extends Error {
  readonly kind: ErrorKind;
  /** The configuration field or argument at fault, in dotted form (`linux.namespaces[2].type`), when known. */
  readonly field?: string;

  constructor(kind: ErrorKind, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(options.field ? `${options.field}: ${message}` : message, { cause: options.cause });
    this.name = 'BerthError';
    this.kind = kind;
    this.field = options.field;
  }
}

export const invalid = (field: string, message: string): BerthError => new BerthError('InvalidArgument', message, { field });
export const notFound = (message: string): BerthError => new BerthError('NotFound', message);
export const alreadyExists = (message: string): BerthError => new BerthError('AlreadyExists', message);
export const precondition = (message: string): BerthError => new BerthError('FailedPrecondition', message);

/** Wraps anything thrown into a BerthError; system errors keep their errno in the message. */
export function asBerthError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const kind: ErrorKind =
      code === 'ENOENT' ? 'NotFound' : code === 'EEXIST' ? 'AlreadyExists' : code === 'EACCES' || code === 'EPERM' ? 'PermissionDenied' : code === 'ENOSPC' ? 'ResourceExhausted' : 'Internal';
    return new BerthError(kind, err.message, { cause: err });
  }
  return new BerthError('Internal', String(err));
}

/** CLI exit codes: runc exits 1 for every failure, and shims written for runc only look at zero/non-zero. */
export function exitCodeOf(_kind: ErrorKind): number {
  return 1;
}

/** gRPC status codes (grpc/status.h), used by berthd and berth-shim. */
export const grpcCodeOf: Record<ErrorKind, number> = {
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  Unauthenticated: 16,
};
