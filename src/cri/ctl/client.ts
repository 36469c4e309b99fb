/** berthctl's connection to berthd: one gRPC channel per endpoint, promise-returning unary calls. */
import * as grpc from '@grpc/grpc-js';
import { BerthError, type ErrorKind } from '../../common/errors';
import { criServices } from '../proto/load';

export const DEFAULT_ENDPOINT = 'unix:///run/berth/berthd.sock';

/** gRPC status codes as Go names them (crictl prints `rpc error: code = <Name> desc = …`). */
export const GRPC_CODE_NAMES: Record<number, string> = {
  0: 'OK', 1: 'Canceled', 2: 'Unknown', 3: 'InvalidArgument', 4: 'DeadlineExceeded', 5: 'NotFound', 6: 'AlreadyExists',
  7: 'PermissionDenied', 8: 'ResourceExhausted', 9: 'FailedPrecondition', 10: 'Aborted', 11: 'OutOfRange',
  12: 'Unimplemented', 13: 'Internal', 14: 'Unavailable', 15: 'DataLoss', 16: 'Unauthenticated',
};

const KIND_OF_CODE: Record<number, ErrorKind> = {
  3: 'InvalidArgument', 4: 'DeadlineExceeded', 5: 'NotFound', 6: 'AlreadyExists', 7: 'PermissionDenied', 8: 'ResourceExhausted',
  9: 'FailedPrecondition', 12: 'Unimplemented', 14: 'Unavailable', 16: 'Unauthenticated',
};

/**
 * A failed call, carrying its gRPC code; its message reads as crictl's, with the steps it failed in before it
 * (`get container status: rpc error: code = NotFound desc = …`).
 */
export class RpcError extends BerthError {
  constructor(readonly code: number, readonly details: string, readonly context = '') {
    super(KIND_OF_CODE[code] ?? 'Internal', `${context ? `${context}: ` : ''}rpc error: code = ${GRPC_CODE_NAMES[code] ?? code} desc = ${details}`);
  }

  /** The same failure, worded as part of `step`. */
  within(step: string): RpcError {
    return new RpcError(this.code, this.details, this.context ? `${step}: ${this.context}` : step);
  }
}

/** Awaits `p`; a failed call is reworded as part of `step` (as crictl wraps its errors), anything else passes. */
export async function during<T>(step: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw err instanceof RpcError ? err.within(step) : err;
  }
}

/** As `during`, for a whole step: any failure is reworded as part of it (`execing command in container X: …`). */
export async function within<T>(step: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof RpcError) throw err.within(step);
    if (err instanceof BerthError) throw new BerthError(err.kind, `${step}: ${err.message}`, { cause: err });
    throw new BerthError('Internal', `${step}: ${(err as Error).message}`, { cause: err });
  }
}

/** `unix:///path`, `unix:path` or a bare absolute path → the address grpc-js dials. */
export function normalizeEndpoint(endpoint: string): string {
  if (endpoint.startsWith('unix://')) return endpoint;
  if (endpoint.startsWith('/')) return `unix://${endpoint}`;
  throw new BerthError('InvalidArgument', `endpoint "${endpoint}": only unix sockets are supported (unix:///path)`, { field: '--runtime-endpoint' });
}

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;
type UnaryMethod = (req: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, cb: Callback<unknown>) => grpc.ClientUnaryCall;

export class CriClient {
  private readonly runtime: grpc.Client;
  private readonly image: grpc.Client;
  private readonly progress: grpc.Client;

  constructor(readonly endpoint: string, private readonly connectTimeoutMs: number, readonly callTimeoutMs: number) {
    const defs = criServices();
    const address = normalizeEndpoint(endpoint);
    const creds = grpc.credentials.createInsecure();
    this.runtime = new (grpc.makeClientConstructor(defs.runtime, 'RuntimeService'))(address, creds);
    // The same address and options share one channel's connection (grpc-js pools subchannels).
    this.image = new (grpc.makeClientConstructor(defs.image, 'ImageService'))(address, creds);
    this.progress = new (grpc.makeClientConstructor(defs.pullProgress, 'PullProgress'))(address, creds);
  }

  /** Waits until berthd accepts a connection, so that a missing socket is reported as such, quickly. */
  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.image.waitForReady(Date.now() + this.connectTimeoutMs, (err) => (err ? reject(err) : resolve()));
    }).catch((err: Error) => {
      throw new BerthError('Unavailable', `cannot connect to berthd at ${this.endpoint}: ${err.message}`);
    });
  }

  runtimeCall<Req, Res>(method: string, req: Req, opts: { timeoutMs?: number; metadata?: grpc.Metadata } = {}): Promise<Res> {
    return this.call(this.runtime, method, req, opts);
  }

  imageCall<Req, Res>(method: string, req: Req, opts: { timeoutMs?: number; metadata?: grpc.Metadata } = {}): Promise<Res> {
    return this.call(this.image, method, req, opts);
  }

  /** berth.v1.PullProgress.Watch: a stream of the events of one pull. */
  watchPull(pullId: string): grpc.ClientReadableStream<unknown> {
    const fn = (this.progress as unknown as Record<string, (req: unknown) => grpc.ClientReadableStream<unknown>>).Watch;
    return fn.call(this.progress, { pullId });
  }

  close(): void {
    this.runtime.close();
    this.image.close();
    this.progress.close();
  }

  private call<Req, Res>(client: grpc.Client, method: string, req: Req, opts: { timeoutMs?: number; metadata?: grpc.Metadata }): Promise<Res> {
    const fn = (client as unknown as Record<string, UnaryMethod>)[method];
    const timeout = opts.timeoutMs ?? this.callTimeoutMs;
    const options: grpc.CallOptions = timeout > 0 ? { deadline: Date.now() + timeout } : {};
    return new Promise<Res>((resolve, reject) => {
      fn.call(client, req, opts.metadata ?? new grpc.Metadata(), options, (err, res) => {
        if (err) reject(new RpcError(err.code, err.details || err.message));
        else resolve(res as Res);
      });
    });
  }
}
