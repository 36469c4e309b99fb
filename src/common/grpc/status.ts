/**
 * Error kinds ↔ gRPC status codes (grpc/status.h): the one mapping berthd, berth-shim and their clients use,
 * in both directions.
 */
import * as grpc from '@grpc/grpc-js';
import { asBerthError, BerthError, type ErrorKind } from '../errors';

export const grpcCodeOf: Record<ErrorKind, grpc.status> = {
  InvalidArgument: grpc.status.INVALID_ARGUMENT,
  DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
  NotFound: grpc.status.NOT_FOUND,
  AlreadyExists: grpc.status.ALREADY_EXISTS,
  PermissionDenied: grpc.status.PERMISSION_DENIED,
  ResourceExhausted: grpc.status.RESOURCE_EXHAUSTED,
  FailedPrecondition: grpc.status.FAILED_PRECONDITION,
  Unimplemented: grpc.status.UNIMPLEMENTED,
  Internal: grpc.status.INTERNAL,
  Unavailable: grpc.status.UNAVAILABLE,
  Unauthenticated: grpc.status.UNAUTHENTICATED,
};

const kindOfCode = new Map<number, ErrorKind>(Object.entries(grpcCodeOf).map(([kind, code]) => [code, kind as ErrorKind]));
// Codes no kind sends, read as the nearest kind.
kindOfCode.set(grpc.status.OUT_OF_RANGE, 'InvalidArgument');
kindOfCode.set(grpc.status.ABORTED, 'FailedPrecondition');

/** The kind of a status code; codes with no kind of their own (UNKNOWN, CANCELLED, DATA_LOSS) are Internal. */
export function kindOfGrpcCode(code: number): ErrorKind {
  return kindOfCode.get(code) ?? 'Internal';
}

/**
 * Status codes by the names gRPC's own libraries print (grpc-go's codes.Code.String(): `OK`, `NotFound`, …),
 * the spelling metrics label them with.
 */
const CODE_NAMES: Record<number, string> = {
  [grpc.status.OK]: 'OK',
  [grpc.status.CANCELLED]: 'Canceled',
  [grpc.status.UNKNOWN]: 'Unknown',
  [grpc.status.INVALID_ARGUMENT]: 'InvalidArgument',
  [grpc.status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [grpc.status.NOT_FOUND]: 'NotFound',
  [grpc.status.ALREADY_EXISTS]: 'AlreadyExists',
  [grpc.status.PERMISSION_DENIED]: 'PermissionDenied',
  [grpc.status.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [grpc.status.FAILED_PRECONDITION]: 'FailedPrecondition',
  [grpc.status.ABORTED]: 'Aborted',
  [grpc.status.OUT_OF_RANGE]: 'OutOfRange',
  [grpc.status.UNIMPLEMENTED]: 'Unimplemented',
  [grpc.status.INTERNAL]: 'Internal',
  [grpc.status.UNAVAILABLE]: 'Unavailable',
  [grpc.status.DATA_LOSS]: 'DataLoss',
  [grpc.status.UNAUTHENTICATED]: 'Unauthenticated',
};

export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? `Code(${code})`;
}

/** Any error as the status a server sends for it. */
export function toServiceError(err: unknown): grpc.ServiceError {
  const e = asBerthError(err);
  return Object.assign(new Error(e.message), { code: grpcCodeOf[e.kind], details: e.message, metadata: new grpc.Metadata() });
}

/** A status a client received, back as a BerthError of the same kind (the message is the server's). */
export function fromServiceError(err: grpc.ServiceError): BerthError {
  return new BerthError(kindOfGrpcCode(err.code), err.details || err.message, { cause: err });
}
