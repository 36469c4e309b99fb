/** One unary CRI call over a grpc-js client made from the CRI proto definition, with a deadline. */
import * as grpc from '@grpc/grpc-js';

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

export function criCall<T>(client: grpc.Client, method: string, req: unknown, deadlineMs: number): Promise<T> {
  const fn = (client as unknown as Record<string, Unary>)[method];
  return new Promise((resolve, reject) => {
    fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
  });
}
