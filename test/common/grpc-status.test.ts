/** The one error-kind ↔ gRPC status mapping (src/common/grpc/status.ts), both ways. */
import * as grpc from '@grpc/grpc-js';
import { expect, test } from '@jest/globals';
import { fromServiceError, grpcCodeOf, kindOfGrpcCode, toServiceError } from '../../src/common/grpc';
import { BerthError, type ErrorKind } from '../../src/common/errors';

test('every kind has its own code and comes back from it', () => {
  const kinds = Object.keys(grpcCodeOf) as ErrorKind[];
  expect(new Set(kinds.map((k) => grpcCodeOf[k])).size).toBe(kinds.length);
  for (const k of kinds) expect(kindOfGrpcCode(grpcCodeOf[k])).toBe(k);
  expect(grpcCodeOf.Internal).toBe(13);
});

test('codes without a kind read as the nearest one; the rest as Internal', () => {
  expect(kindOfGrpcCode(grpc.status.OUT_OF_RANGE)).toBe('InvalidArgument');
  expect(kindOfGrpcCode(grpc.status.ABORTED)).toBe('FailedPrecondition');
  for (const c of [grpc.status.UNKNOWN, grpc.status.CANCELLED, grpc.status.DATA_LOSS, 99]) expect(kindOfGrpcCode(c)).toBe('Internal');
});

test('an error sent as a status and received again keeps its kind and message', () => {
  const sent = toServiceError(new BerthError('NotFound', 'container "x" does not exist'));
  expect(sent.code).toBe(grpc.status.NOT_FOUND);
  const back = fromServiceError(sent);
  expect([back.kind, back.message]).toEqual(['NotFound', 'container "x" does not exist']);
  expect(toServiceError(new Error('boom')).code).toBe(grpc.status.INTERNAL);
});
