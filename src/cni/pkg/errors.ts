/**
 * CNI errors: the spec's error object and its well-known codes. Every error a plugin raises is a BerthError;
 * its CNI code is decided here, once: either given explicitly (a CniError, for the protocol-level codes the
 * spec names) or derived from the BerthError kind.
 */
import { BerthError, asBerthError, type ErrorKind } from '../../common/errors';

/** The spec's well-known error codes (1–99 are reserved by the spec; 100+ are plugin-specific). */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IOFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  /** STATUS: the plugin cannot service ADD requests. */
  NotAvailable: 50,
  /** STATUS: not available, and existing containers may have limited connectivity. */
  NotAvailableLimitedConnectivity: 51,
  /** libcni's code for any error without a specific code. */
  Internal: 999,
} as const;

export type CniCodeValue = number;

/** The error object printed on stdout (spec: "Error" section). */
export interface CniErrorJson {
  cniVersion?: string;
  code: number;
  msg: string;
  details?: string;
}

/** A BerthError with an explicit CNI code (protocol errors: versions, environment, decoding, config). */
export class CniError extends BerthError {
  readonly code: number;
  readonly details?: string;

  constructor(code: number, kind: ErrorKind, message: string, options: { field?: string; details?: string; cause?: unknown } = {}) {
    super(kind, message, { field: options.field, cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
}

const CODE_OF_KIND: Record<ErrorKind, number> = {
  InvalidArgument: CniCode.InvalidNetworkConfig,
  // Not 3 ("container unknown": tells the runtime no cleanup is needed): a missing file is not that. A plugin
  // that knows the container is gone says so with unknownContainer().
  NotFound: CniCode.Internal,
  AlreadyExists: CniCode.Internal,
  FailedPrecondition: CniCode.Internal,
  PermissionDenied: CniCode.IOFailure,
  Unauthenticated: CniCode.Internal,
  Unavailable: CniCode.TryAgainLater,
  ResourceExhausted: CniCode.TryAgainLater,
  DeadlineExceeded: CniCode.TryAgainLater,
  Unimplemented: CniCode.Internal,
  Internal: CniCode.Internal,
};

/** The CNI code of any thrown value. */
export function cniCodeOf(err: unknown): number {
  if (err instanceof CniError) return err.code;
  return CODE_OF_KIND[asBerthError(err).kind];
}

/** The spec's error object for any thrown value. */
export function toCniErrorJson(err: unknown, cniVersion?: string): CniErrorJson {
  const e = asBerthError(err);
  const code = cniCodeOf(err);
  const out: CniErrorJson = cniVersion ? { cniVersion, code, msg: e.message } : { code, msg: e.message };
  if (err instanceof CniError && err.details) out.details = err.details;
  return out;
}

// --- constructors for the protocol errors ---

export const incompatibleVersion = (message: string, details?: string): CniError =>
  new CniError(CniCode.IncompatibleVersion, 'FailedPrecondition', message, { details });
export const unsupportedField = (field: string, message: string): CniError =>
  new CniError(CniCode.UnsupportedField, 'InvalidArgument', message, { field });
export const invalidEnv = (variable: string, message: string, details?: string): CniError =>
  new CniError(CniCode.InvalidEnvironment, 'InvalidArgument', message, { field: variable, details });
export const decodeFailure = (message: string, cause?: unknown): CniError =>
  new CniError(CniCode.DecodingFailure, 'InvalidArgument', message, { cause });
export const invalidConfig = (field: string, message: string): CniError =>
  new CniError(CniCode.InvalidNetworkConfig, 'InvalidArgument', message, { field });
export const ioFailure = (message: string, cause?: unknown): CniError =>
  new CniError(CniCode.IOFailure, 'Internal', message, { cause });
export const tryAgainLater = (message: string): CniError => new CniError(CniCode.TryAgainLater, 'Unavailable', message);
export const unknownContainer = (message: string): CniError => new CniError(CniCode.UnknownContainer, 'NotFound', message);
export const notAvailable = (message: string): CniError => new CniError(CniCode.NotAvailable, 'Unavailable', message);
