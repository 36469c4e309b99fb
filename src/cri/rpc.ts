/** One place where an RPC's outcome becomes a gRPC status and a log line. */
import * as grpc from '@grpc/grpc-js';
import { asBerthError, grpcCodeOf } from '../common/errors';
import type { Logger } from '../common/log';

export type UnaryHandler<Req, Res> = (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res;

/** A grpc-js unary handler over `fn`: debug logs per call, errors mapped once through their kind. */
export function unary<Req, Res>(log: Logger, method: string, fn: UnaryHandler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const start = process.hrtime.bigint();
    log.debug('rpc', { method, request: call.request });
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (res) => {
          log.debug('rpc done', { method, ms: elapsedMs(start) });
          callback(null, res);
        },
        (err: unknown) => {
          const e = asBerthError(err);
          const code = grpcCodeOf[e.kind];
          // Client mistakes are routine; server faults are worth a warning.
          (e.kind === 'Internal' || e.kind === 'Unavailable' ? log.warn : log.debug).call(log, 'rpc failed', { method, kind: e.kind, error: e.message, ms: elapsedMs(start) });
          callback({ code, details: e.message, name: e.kind, message: e.message });
        },
      );
  };
}

export function elapsedMs(start: bigint): number {
  return Number((process.hrtime.bigint() - start) / 1000n) / 1000;
}
