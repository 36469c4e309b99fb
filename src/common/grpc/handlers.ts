/** Server-side call wrappers: where a handler's outcome becomes a gRPC status and a log line, once. */
import type * as grpc from '@grpc/grpc-js';
import { asBerthError } from '../errors';
import type { Logger } from '../log';
import { grpcCodeOf, toServiceError } from './status';

export type UnaryHandler<Req, Res> = (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res;

export function elapsedMs(start: bigint): number {
  return Number((process.hrtime.bigint() - start) / 1000n) / 1000;
}

/** A grpc-js unary handler over `fn`: debug logs per call, errors mapped through their kind. */
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
          // Client mistakes are routine; server faults are worth a warning.
          (e.kind === 'Internal' || e.kind === 'Unavailable' ? log.warn : log.debug).call(log, 'rpc failed', { method, kind: e.kind, error: e.message, ms: elapsedMs(start) });
          callback({ code: grpcCodeOf[e.kind], details: e.message, name: e.kind, message: e.message });
        },
      );
  };
}

/**
 * Ends a server stream with the error's status. (Not destroy(): a destroyed grpc-js stream never sends its
 * status, and the client would wait forever.)
 */
export function failStream(call: NodeJS.EventEmitter, err: unknown): void {
  call.emit('error', toServiceError(err));
}
