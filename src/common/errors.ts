/**
 * Errors are values with a kind. Every boundary maps the kind once, so that components never invent their own
 * codes: CLI exit codes here, gRPC statuses in grpc/status.ts, CNI error codes in cni/pkg/errors.ts.
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
